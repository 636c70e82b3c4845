"""The security tests act as users of a shared Tusk: they share the page tests' helpers."""

from tests.ui.conftest import multi_user  # noqa: F401 - a fixture, used by name

"""The only part of Tusk that imports Streamlit: page shell, session state, widgets."""

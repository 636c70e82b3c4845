// Tusk's hook into streamlit-code-editor's Ace editors (runs in the page, not in their iframes).
//
// The component reads its `completions` only when an editor is mounted and keeps them for the
// editor's life, and its VS Code keymap takes Ctrl+Shift+Enter for addLineBefore ahead of the
// editor's own commands. So every run of the page stores the latest completion data here, per
// editor key, and a timer gives each new editor (same origin: its iframe is reachable) a
// completer that reads that data when asked, and frees Ctrl+Shift+Enter.
(() => {
  const KEY = __TUSK_KEY__;
  const DATA = __TUSK_DATA__;
  const store = (window.tuskCompletions = window.tuskCompletions || {});
  store[KEY] = DATA;
  if (window.tuskEditorHook) return;

  const STOP = new Set([
    "where", "on", "using", "join", "inner", "left", "right", "full", "outer", "cross",
    "natural", "group", "order", "limit", "having", "union", "except", "intersect", "window",
    "qualify", "set", "values", "select", "offset", "fetch", "returning", "as", "default",
    "lateral", "pivot", "unpivot", "asof", "positional", "anti", "semi", "tablesample",
  ]);
  const STARTS = new Set(["from", "join", "update", "into"]);

  // Names, quoted names, dots, commas and parentheses; strings and comments are dropped.
  const tokenize = (text) => {
    const re = /--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|'(?:[^']|'')*'?|"((?:[^"]|"")*)"?|([A-Za-z_\u00C0-\uFFFF][\w$\u00C0-\uFFFF]*)|([.,()])/g;
    const out = [];
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m[1] !== undefined) out.push({ name: m[1].replace(/""/g, '"'), quoted: true });
      else if (m[2] !== undefined) out.push({ name: m[2], quoted: false, word: m[2].toLowerCase() });
      else if (m[3] !== undefined) out.push({ punct: m[3] });
    }
    return out;
  };

  // Alias or table name (lower case) → the table's name parts, for every FROM/JOIN/… item.
  const references = (text) => {
    const tokens = tokenize(text);
    const refs = new Map();
    const isName = (t) => t && t.name !== undefined && (t.quoted || !STOP.has(t.word));
    let i = 0;
    while (i < tokens.length) {
      const start = tokens[i++];
      if (!start.word || !STARTS.has(start.word)) continue;
      for (;;) {
        const parts = [];
        while (isName(tokens[i])) {
          parts.push(tokens[i++].name);
          if (!(tokens[i] && tokens[i].punct === ".")) break;
          i++;
        }
        if (!parts.length) break;
        let alias = null;
        if (tokens[i] && tokens[i].word === "as") i++;
        if (isName(tokens[i])) alias = tokens[i++].name;
        refs.set((alias || parts[parts.length - 1]).toLowerCase(), parts);
        if (start.word !== "from" || !(tokens[i] && tokens[i].punct === ",")) break;
        i++;
      }
    }
    return refs;
  };

  const columnsOf = (data, index, qualifier) => {
    const [label, columns] = data.tables[index];
    return columns.map(([name, value, type]) => ({
      caption: qualifier ? qualifier + "." + name : name,
      value: qualifier ? qualifier + "." + value : value,
      meta: "column · " + label + (type ? " · " + type : ""),
      score: qualifier ? 1000 : 900,
    }));
  };

  // `name.` (an alias, a table, a schema: quoted or not) right before the word being typed.
  const QUALIFIED = /((?:"(?:[^"]|"")+"|[A-Za-z_\u00C0-\uFFFF][\w$\u00C0-\uFFFF]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_\u00C0-\uFFFF][\w$\u00C0-\uFFFF]*))*)\s*\.\s*$/;
  const lineBefore = (session, pos, prefix) =>
    session.getLine(pos.row).slice(0, Math.max(0, pos.column - prefix.length));

  const complete = (data, text, before) => {
    const refs = references(text);
    const tableIndex = (parts) => data.lookup[parts.join(".").toLowerCase()];
    const typed = QUALIFIED.exec(before);
    // Right after `name.`: only what `name` (an alias, a table) has.
    if (typed) {
      const parts = tokenize(typed[1]).filter((t) => t.name !== undefined).map((t) => t.name);
      const key = parts.join(".").toLowerCase();
      let index = parts.length === 1 && refs.has(key) ? tableIndex(refs.get(key)) : undefined;
      if (index === undefined) index = tableIndex(parts);
      if (index !== undefined) return columnsOf(data, index, null);
      const known = data.entries
        .filter((e) => e.bare && e.caption.toLowerCase().startsWith(key + "."))
        .map((e) => ({ ...e, caption: e.caption.slice(key.length + 1), value: e.bare }));
      if (known.length) return known;
      return data.entries;
    }
    const seen = new Set(data.entries.map((e) => e.value));
    const found = [];
    for (const [key, parts] of refs) {
      const index = tableIndex(parts);
      if (index === undefined) continue;
      const last = parts[parts.length - 1];
      const qualifier = key === last.toLowerCase() ? data.tables[index][0] : key;
      for (const entry of [...columnsOf(data, index, qualifier), ...columnsOf(data, index, null)]) {
        if (!seen.has(entry.value)) {
          seen.add(entry.value);
          found.push(entry);
        }
      }
    }
    return data.entries.concat(found);
  };

  const install = (win, editor, key) => {
    editor.tuskHooked = true;
    // The keymap (VS Code's) loads on its own time, maybe after this: free the key now and
    // in whatever keymap is set later.
    const shiftEnter = { win: "Ctrl-Shift-Enter", mac: "Command-Shift-Enter" };
    const free = (handler) => {
      if (handler && handler !== editor.commands && handler.bindKey) {
        handler.bindKey(shiftEnter, null);
      }
    };
    const keys = editor.keyBinding;
    keys.$handlers.forEach(free);
    const setHandler = keys.setKeyboardHandler;
    keys.setKeyboardHandler = function (handler) {
      free(handler);
      return setHandler.apply(this, arguments);
    };
    const completer = {
      id: "tuskCompleter",
      getCompletions: (ed, session, pos, prefix, callback) => {
        const data = store[key];
        if (!data) return callback(null, []);
        try {
          callback(null, complete(data, session.getValue(), lineBefore(session, pos, prefix)));
        } catch (error) {
          callback(null, data.entries);
        }
      },
    };
    // Ours replaces the component's frozen list; Ace's own (keywords, local words, snippets)
    // stay, but say nothing after `name.`, where only columns fit.
    const tools = win.ace.require("ace/ext/language_tools");
    const own = [tools.keyWordCompleter, tools.textCompleter, tools.snippetCompleter];
    const others = (editor.completers || []).filter((c) => own.includes(c)).map((c) => {
      const quiet = Object.create(c);
      quiet.getCompletions = (ed, session, pos, prefix, callback) =>
        QUALIFIED.test(lineBefore(session, pos, prefix))
          ? callback(null, [])
          : c.getCompletions(ed, session, pos, prefix, callback);
      return quiet;
    });
    editor.completers = [completer].concat(others);
  };

  const hook = () => {
    for (const frame of document.querySelectorAll('iframe[title="code_editor.code_editor"]')) {
      let win;
      try {
        win = frame.contentWindow;
        if (!win || !win.document) continue;
      } catch (error) {
        continue;
      }
      const node = win.document.querySelector(".ace_editor:not(.ace_autocomplete)");
      const editor = node && node.env && node.env.editor;
      if (!editor || editor.tuskHooked || !win.ace) continue;
      const box = frame.closest('[class*="st-key-"]');
      const cls = box && [...box.classList].find((c) => c.startsWith("st-key-"));
      if (cls) install(win, editor, cls.slice("st-key-".length));
    }
  };
  window.tuskEditorHook = setInterval(hook, 100);
  hook();
})();

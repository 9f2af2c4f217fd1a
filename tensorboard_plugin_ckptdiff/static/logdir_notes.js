/** What the tab says about the logdir itself, above its views: unreadable, still being scanned, directories it could not open. */

const SHOWN_DIRS = 3; // name a few; a long list would push the views off the screen

/**
 * The notes for a /runs body, each {kind: "error" | "status" | "warning", id, title, text}.
 * An unreadable logdir says only that: nothing under it could be looked at.
 */
export function logdirNotes(body) {
  if (body.logdir_readable === false) {
    return [{ kind: "error", id: "logdir-unreadable", title: "Logdir", text: "the logdir cannot be read; check --logdir and its permissions" }];
  }
  const notes = [];
  if (body.scanning === true) {
    notes.push({ kind: "status", id: "scanning", text: "Still looking for checkpoints in the logdir and reading them (a large or remote one takes a while); what is not read yet says \"checking\", and the views fill in by themselves." });
  }
  const dirs = body.unreadable_dirs || [];
  if (dirs.length) {
    const named = dirs.slice(0, SHOWN_DIRS).map((d) => `${d.path} (${d.error})`).join(", ");
    const more = dirs.length > SHOWN_DIRS ? ` and ${dirs.length - SHOWN_DIRS} more` : "";
    const what = dirs.length === 1 ? "1 directory under the logdir could not be opened, so its checkpoints are"
      : `${dirs.length} directories under the logdir could not be opened, so their checkpoints are`;
    notes.push({ kind: "warning", id: "unreadable-dirs", text: `${what} not listed: ${named}${more}.` });
  }
  return notes;
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { logdirNotes } from "../../tensorboard_plugin_ckptdiff/static/logdir_notes.js";

const listing = (extra) => ({ logdir_readable: true, scanning: false, unreadable_dirs: [], runs: [], ...extra });

test("a readable, fully scanned logdir needs no note", () => {
  assert.deepEqual(logdirNotes(listing({})), []);
});

test("an unreadable logdir is one error and nothing else", () => {
  const notes = logdirNotes(listing({ logdir_readable: false, scanning: true, unreadable_dirs: [{ path: "a", error: "Permission denied" }] }));
  assert.deepEqual(notes.map((n) => [n.kind, n.id]), [["error", "logdir-unreadable"]]);
  assert.match(notes[0].text, /--logdir/);
});

test("a scan under way is a status note", () => {
  assert.deepEqual(logdirNotes(listing({ scanning: true })).map((n) => [n.kind, n.id]), [["status", "scanning"]]);
});

test("one closed directory is named with its reason", () => {
  const [note] = logdirNotes(listing({ unreadable_dirs: [{ path: "exp3/ckpt", error: "Permission denied" }] }));
  assert.equal(note.kind, "warning");
  assert.equal(note.text, "1 directory under the logdir could not be opened, so its checkpoints are not listed: exp3/ckpt (Permission denied).");
});

test("many closed directories name the first three and count the rest", () => {
  const dirs = ["a", "b", "c", "d", "e"].map((path) => ({ path, error: "Permission denied" }));
  const [note] = logdirNotes(listing({ unreadable_dirs: dirs }));
  assert.match(note.text, /^5 directories under the logdir could not be opened/);
  assert.match(note.text, /a \(Permission denied\), b \(Permission denied\), c \(Permission denied\) and 2 more\.$/);
  assert.doesNotMatch(note.text, /\bd \(/);
});

test("an older server without the new fields gives no notes", () => {
  assert.deepEqual(logdirNotes({ logdir_readable: true, runs: [] }), []);
});

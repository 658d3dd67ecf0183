#!/usr/bin/python3
"""make check-docs: README.md and doc/*.md hold together.

- every relative link and image ([text](path), [text](path#anchor),
  [text](#anchor), reference definitions) resolves to a file or directory
  of the repository, and every #anchor to a heading of the target Markdown
  file (GitHub's heading ids);
- every doc/*.md is linked from README.md;
- README.md is at most 300 lines.

Links inside fenced code blocks and inline code are not links and are
ignored; http(s) and mailto links are not checked (no network here).
The checker's own refusals are tested on a throwaway tree (CheckerRefuses).
"""
import glob
import os
import re
import shutil
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README_MAX_LINES = 300

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
INLINE_LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
HTML_ID = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def without_code(text):
    """text with fenced blocks blanked (lines kept) and inline code spans
    replaced by their plain content without brackets or parentheses."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return INLINE_CODE.sub(lambda m: re.sub(r"[\[\]()]", " ", m.group(2)), text)


def slug(heading):
    """GitHub's id for a heading: its rendered text, lowercased, without
    punctuation other than '-' and '_', spaces turned into '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # links -> their text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text)                          # inline HTML
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    """Every anchor a Markdown file defines: heading ids (duplicates get
    -1, -2, ... as on GitHub) and explicit <a name/id> targets."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found, seen = set(), {}
    for match in HEADING.finditer(FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else "%s-%d" % (base, count))
    found.update(HTML_ID.findall(text))
    return found


def links(path):
    """(line number, target) of every link and image in a Markdown file."""
    with open(path, encoding="utf-8") as f:
        text = without_code(f.read())
    out = []
    for regex, group in ((INLINE_LINK, 2), (REF_DEF, 1)):
        for match in regex.finditer(text):
            out.append((text.count("\n", 0, match.start()) + 1, match.group(group)))
    return sorted(out)


def problems(path, root):
    """One message per link of path that does not resolve inside root."""
    found = []
    here = os.path.dirname(path)
    for line, target in links(path):
        where = "%s:%d: %s" % (os.path.relpath(path, root), line, target or "(empty)")
        if EXTERNAL.match(target):
            continue
        if not target:
            found.append(where + ": empty link")
            continue
        file_part, _, fragment = target.partition("#")
        dest = os.path.normpath(os.path.join(here, file_part)) if file_part else path
        if os.path.commonpath([dest, root]) != root:
            found.append(where + ": points outside the repository")
        elif not os.path.exists(dest):
            found.append(where + ": no such file")
        elif fragment:
            if not dest.endswith(".md"):
                found.append(where + ": an anchor into a file that is not Markdown")
            elif fragment not in anchors(dest):
                found.append(where + ": no heading with this anchor in " +
                             os.path.relpath(dest, root))
    return found


def doc_files(root):
    return [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "doc", "*.md")))


def check_tree(root):
    """Every problem of README.md and doc/*.md under root, as messages."""
    root = os.path.abspath(root)
    readme = os.path.join(root, "README.md")
    found = []
    for path in doc_files(root):
        found += problems(path, root)
    with open(readme, encoding="utf-8") as f:
        nlines = len(f.read().splitlines())
    if nlines > README_MAX_LINES:
        found.append("README.md: %d lines, at most %d" % (nlines, README_MAX_LINES))
    linked = {os.path.normpath(os.path.join(root, t.partition("#")[0]))
              for _, t in links(readme) if not EXTERNAL.match(t)}
    for path in doc_files(root)[1:]:
        if path not in linked:
            found.append("README.md: does not link %s" % os.path.relpath(path, root))
    return found


class RepositoryDocs(unittest.TestCase):
    def test_links_anchors_and_readme_length(self):
        self.assertTrue(glob.glob(os.path.join(ROOT, "doc", "*.md")), "no doc/*.md found")
        found = check_tree(ROOT)
        self.assertEqual(found, [], "\n" + "\n".join(found))

    def test_the_checker_sees_the_links(self):
        # A checker that finds no link would pass everything.
        targets = [t for _, t in links(os.path.join(ROOT, "README.md"))]
        self.assertIn("doc/ejabberd.md", targets)
        self.assertTrue(any("#" in t for p in doc_files(ROOT) for _, t in links(p)))


class CheckerRefuses(unittest.TestCase):
    """The checker on a throwaway tree: each kind of breakage is reported."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="check-docs-")
        os.mkdir(os.path.join(self.root, "doc"))
        self.write("doc/guide.md", "# Guide\n\n## Set up `xtoken` (twice)\n\n## Set up `xtoken` (twice)\n\n"
                   "Back to the [readme](../README.md#top-title).\n")
        self.write("README.md", "# Top title\n\nSee [the guide](doc/guide.md) and "
                   "[its section](doc/guide.md#set-up-xtoken-twice-1).\n")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def write(self, rel, text):
        with open(os.path.join(self.root, rel), "w", encoding="utf-8") as f:
            f.write(text)

    def append(self, rel, text):
        with open(os.path.join(self.root, rel), "a", encoding="utf-8") as f:
            f.write(text)

    def test_a_sound_tree_passes(self):
        self.assertEqual(check_tree(self.root), [])

    def test_missing_file(self):
        self.append("README.md", "[gone](doc/missing.md)\n")
        self.assertEqual(len(check_tree(self.root)), 1)
        self.assertIn("no such file", check_tree(self.root)[0])

    def test_missing_anchor(self):
        self.append("doc/guide.md", "[here](#set-up-xtoken-twice-2)\n")
        found = check_tree(self.root)
        self.assertEqual(len(found), 1, found)
        self.assertIn("no heading with this anchor", found[0])

    def test_missing_anchor_in_another_file(self):
        self.append("README.md", "![pic](doc/guide.md#nowhere)\n")
        self.assertIn("no heading with this anchor", " ".join(check_tree(self.root)))

    def test_outside_the_repository(self):
        self.append("README.md", "[up](../../etc/passwd)\n")
        self.assertIn("outside the repository", " ".join(check_tree(self.root)))

    def test_anchor_into_a_file_that_is_not_markdown(self):
        self.write("doc/x.txt", "text\n")
        self.append("README.md", "[x](doc/x.txt#a)\n")
        self.assertIn("not Markdown", " ".join(check_tree(self.root)))

    def test_reference_definition(self):
        self.append("README.md", "[gone][g]\n\n[g]: doc/nothing.md\n")
        self.assertIn("no such file", " ".join(check_tree(self.root)))

    def test_code_is_not_a_link(self):
        self.append("README.md", "`[a](nowhere.md)`\n\n```\n[b](nowhere.md)\n```\n"
                    "[external](https://example.org/nowhere)\n")
        self.assertEqual(check_tree(self.root), [])

    def test_unlinked_guide(self):
        self.write("doc/orphan.md", "# Orphan\n")
        self.assertEqual(check_tree(self.root), ["README.md: does not link doc/orphan.md"])

    def test_readme_too_long(self):
        self.append("README.md", "line\n" * README_MAX_LINES)
        found = check_tree(self.root)
        self.assertEqual(len(found), 1, found)
        self.assertIn("at most 300", found[0])


class Slugs(unittest.TestCase):
    def test_github_ids(self):
        self.assertEqual(slug("Keep ejabberd's Erlang ports on loopback"),
                         "keep-ejabberds-erlang-ports-on-loopback")
        self.assertEqual(slug("How `xtoken extauth` behaves"), "how-xtoken-extauth-behaves")
        self.assertEqual(slug("5. Check with `xtoken doctor`"), "5-check-with-xtoken-doctor")
        self.assertEqual(slug("Variant: through PAM (epam)"), "variant-through-pam-epam")
        self.assertEqual(slug("Converse.js"), "conversejs")
        self.assertEqual(slug("The [link](x.md) heading"), "the-link-heading")


if __name__ == "__main__":
    unittest.main(verbosity=2)

# make check-docs: README.md and doc/*.md hold together (tests/docs/check_docs.py):
# every relative link and #anchor resolves, every guide is linked from the
# README, and README.md stays at most 300 lines. The code the docs show is
# run by make check-xtoken (tests/xtoken/test_doc_snippets.py).
.PHONY: check-docs
check-docs:
	/usr/bin/python3 tests/docs/check_docs.py

CHECK_TARGETS += check-docs

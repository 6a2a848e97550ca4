#!/usr/bin/python3
# chainlint-files.py CHAINLINT.AWK FILE...: the && chain check of every
# test_expect_success body in the given test scripts, statically (lib.sh
# checks each body as it runs; this also reaches tests this machine skips).
# Bodies are found by tokenising from each test_expect_success as the shell
# would (shlex: quotes, '\'' joins); prints each broken body, exits 1 if any.
import re
import shlex
import subprocess
import sys

bad = 0
for path in sys.argv[2:]:
    text = open(path).read()
    for m in re.finditer(r'^\s*test_expect_success\b', text, re.M):
        lex = shlex.shlex(text[m.start():], posix=True)
        lex.whitespace_split = True
        lex.commenters = ''
        try:
            words = [lex.get_token() for _ in range(3)]
        except ValueError as e:
            print("%s:%d: cannot read the test: %s" % (path, text.count('\n', 0, m.start()) + 1, e))
            bad = 1
            continue
        r = subprocess.run(['awk', '-f', sys.argv[1]], input=(words[2] or '') + '\n', capture_output=True, text=True)
        if r.returncode:
            bad = 1
            print("%s:%d: %s\n%s" % (path, text.count('\n', 0, m.start()) + 1, words[1], r.stdout), end='')
sys.exit(bad)

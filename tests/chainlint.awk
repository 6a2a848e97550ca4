# tests/chainlint.awk — the && chain check of every test body (the idea of
# git's t/chainlint, line based).  lib.sh runs it on each body before the
# body runs; it prints the offending lines and exits 1 when a line ends a
# command without joining the next one, so that a failure there would be
# lost.  A line must end with && || | & \ ( { then do else in ;; or be followed
# by a line that closes a construct (done fi esac } ) else elif then do ;;).
# The last command of a loop body ends with `|| return 1` (or exit): a loop
# only reports its last iteration's status (a background `cmd &` or a nested
# loop need not).  One-line loops are not checked.  `a &&` then `b &` on the
# next line runs a in the background too: write { b & } &&.
#
# It tokenises just enough shell to find where a command really ends:
# quotes and $( ) may span lines, heredoc bodies and comments are skipped.

function flush_line(    t) {
	t = logical
	sub(/^[ \t]+/, "", t); sub(/[ \t]+$/, "", t)
	logical = ""
	if (t == "") return
	n++; text[n] = t; lno[n] = start_no
}

# Scans one physical line, updating the quote/paren state and removing a
# trailing comment; returns the line as kept.
function scan(line,    i, c, out, prev, w) {
	out = ""
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (sq) { out = out c; if (c == "'") sq = 0; continue }
		if (c == "\\") { out = out substr(line, i, 2); i++; continue }
		if (dq) { out = out c; if (c == "\"") dq = 0; continue }
		if (c == "'") sq = 1
		else if (c == "\"") dq = 1
		else if (c == "$" && substr(line, i + 1, 1) == "(") { depth++; out = out "$("; i++; continue }
		else if (c == ")" && depth > 0) depth--
		else if (c == "#" && (i == 1 || substr(line, i - 1, 1) ~ /[ \t;&|(]/)) break
		else if (c == "<" && substr(line, i, 2) == "<<" && substr(line, i, 3) != "<<<") {
			w = substr(line, i + 2)
			strip = (w ~ /^-/); sub(/^-?[ \t]*/, "", w)
			match(w, /^['"]?[A-Za-z_][A-Za-z_0-9]*/)
			if (RLENGTH > 0) { w = substr(w, 1, RLENGTH); gsub(/['"]/, "", w); heredoc = w; hstrip = strip }
		}
		out = out c
	}
	return out
}

{
	if (heredoc != "") {
		t = $0; if (hstrip) sub(/^\t+/, "", t)
		if (t == heredoc) heredoc = ""
		next
	}
	if (logical == "") start_no = NR
	kept = scan($0)
	logical = logical " " kept
	if (heredoc != "") { flush_line(); next }
	if (sq || dq || depth > 0) { logical = logical "\n"; next }
	if (kept ~ /\\$/) { sub(/\\$/, "", logical); next }
	flush_line()
}

function joins(t) {
	return t ~ /(&&|\|\||\||\(|\{|;;)$/ || t ~ /[^&]&$/ || t ~ /(^|[ \t;])(then|do|else|in)$/ ||
	       t ~ /^[^ \t]+\)$/ # a case pattern
}
function closes(t) { return t ~ /^(done|fi|esac|\}|\)|else|elif|then|do|;;)([ \t;&|>]|$)/ }

END {
	bad = 0
	for (i = 1; i < n; i++)
		if (!joins(text[i]) && !closes(text[i + 1])) {
			printf "line %d: no && after: %s\n", lno[i], text[i]; bad = 1
		}
	for (i = 1; i < n; i++)
		if (text[i] ~ /&&$/ && text[i + 1] ~ /[^&]&$/) {
			printf "line %d: this & puts the whole && chain before it in the background: %s\n", lno[i + 1], text[i + 1]
			bad = 1
		}
	for (i = 2; i <= n; i++)
		if (text[i] ~ /^done([ \t;&|>]|$)/ && text[i - 1] !~ /(return|exit)([ \t]+[0-9]+)?[ \t;]*\}?$/ &&
		    text[i - 1] !~ /(^|[ \t;])do$/ && text[i - 1] !~ /[^&]&$/ &&
		    text[i - 1] !~ /^done([ \t;&|>]|$)/) # a nested loop checks its own
			{ printf "line %d: a loop body that fails must say || return 1: %s\n", lno[i - 1], text[i - 1]; bad = 1 }
	exit bad
}

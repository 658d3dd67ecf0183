# The marked blocks of a Markdown guide, for make check-guides.
#
# A marker is an HTML comment on a line of its own, right before a fenced
# block (other marker or comment lines may come between):
#   <!-- guide: KIND [ARG] [if=TAG] -->
# KIND (tests/guides/run.sh says what each does):
#   run [NAME]     commands, run as written in one shell (NAME keeps the output)
#   write PATH     the block is the whole new content of PATH
#   append PATH    the block is added at the end of PATH
#   output NAME    the block is exactly what NAME printed (up to times and pids)
#   lines SOURCE   each line of the block is a line of SOURCE, in this order:
#                  SOURCE is a NAME, or a file (an absolute path)
# if=TAG: only in the roots that set TAG (tests/guides/inside.sh).
#
#   awk -v out=DIR [-v section=ANCHOR] -f blocks.awk FILE
# writes DIR/NNN.body (the block) and one line per block to DIR/index:
#   NNN|LINE|KIND|ARG|TAG
# (LINE: the line of the opening fence in FILE: the block's first line is
# LINE + 1). With section, only the blocks under the
# heading whose GitHub anchor is ANCHOR, up to the next heading of the same
# or a higher level. Exits 2 on a marker without a block or a fence that
# does not close.
function anchor(h,    a) {
    a = tolower(h)
    sub(/^#+[ \t]+/, "", a)
    gsub(/[^a-z0-9 _-]/, "", a)
    gsub(/ /, "-", a)
    return a
}
function fail(msg) {
    printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
    bad = 1
    exit 2
}
BEGIN { n = 0; inside = 0; pending = 0; in_section = (section == "") }
{
    line = $0
}
inside {
    if (line ~ /^[ \t]*```/) {
        inside = 0
        close(body)
        next
    }
    if (keep) {
        sub("^" indent, "", line)
        print line > body
    }
    next
}
/^[ \t]*```/ {
    if (pending) {
        n++
        id = sprintf("%03d", n)
        body = out "/" id ".body"
        match(line, /^[ \t]*/)
        indent = substr(line, 1, RLENGTH)
        keep = in_section
        printf "" > body
        if (keep)
            printf "%s|%d|%s|%s|%s\n", id, FNR, mkind, marg, mtag > (out "/index")
        pending = 0
    } else {
        keep = 0
    }
    inside = 1
    next
}
/^#+[ \t]/ && section != "" {
    level = line
    sub(/[ \t].*/, "", level)
    if (in_section && length(level) <= slevel)
        in_section = 0
    if (!in_section && anchor(line) == section) {
        in_section = 1
        slevel = length(level)
    }
}
/^[ \t]*<!-- guide:/ {
    if (pending)
        fail("marker on line " mline " has no fenced block after it")
    spec = line
    sub(/^[ \t]*<!-- guide:[ \t]*/, "", spec)
    if (spec !~ /-->[ \t]*$/)
        fail("a guide marker must end on its line with -->")
    sub(/[ \t]*-->[ \t]*$/, "", spec)
    nf = split(spec, w, /[ \t]+/)
    mkind = w[1]; marg = ""; mtag = ""
    for (i = 2; i <= nf; i++) {
        if (w[i] ~ /^if=/) mtag = substr(w[i], 4)
        else if (marg == "") marg = w[i]
        else fail("marker with more than one argument: " spec)
    }
    if (mkind !~ /^(run|write|append|output|lines)$/)
        fail("unknown marker kind '" mkind "'")
    if (mkind ~ /^(write|append|output|lines)$/ && marg == "")
        fail("marker '" mkind "' needs an argument")
    mline = FNR
    pending = 1
    next
}
pending && line !~ /^[ \t]*(<!--.*-->)?[ \t]*$/ {
    fail("marker on line " mline " is not followed by a fenced block")
}
END {
    if (bad)
        exit 2
    if (inside)
        fail("a fenced block does not close")
    if (pending)
        fail("marker on line " mline " has no fenced block after it")
    printf "" >> (out "/index")
}

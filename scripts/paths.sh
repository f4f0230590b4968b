# What scripts/install.sh and scripts/uninstall.sh may change, sourced by both.
#
# check_paths: under a root other than /, a link in the root (an image's /var -> /data/var) leads out of it,
# to the host's own files; every path these scripts change is checked before either changes any, and such a
# link is refused. Needs $root, $r (the prefix for every path: "" on a real install) and die.
check_paths() {
    local p real
    local paths=("$r/opt/carebot" "$r/usr/local/bin" "$r/etc/carebot" "$r/var/lib/carebot" "$r/var/lib/carebot-sim"
                 "$r/etc/systemd/system" "$r/etc/systemd/system/carebot-screen.service.d" "$r/opt/carebot/scripts"
                 "$r/etc/systemd/user" "$r/etc/udev/rules.d" "$r/etc/systemd/journald.conf.d")
    [ "$root" != / ] || return 0
    for p in "${paths[@]}"; do
        real="$(realpath -m -- "$p")"
        case "$real" in "$root"/*) ;; *) die "refusing: ${p#"$r"/} leads outside $root (to $real): a link in the root" ;; esac
    done
}

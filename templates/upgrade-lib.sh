# shellcheck shell=sh disable=SC2034 # the variables are for the scripts sourcing this
# What the scripts of {{PRODUCT_NAME}} {{VERSION}} share (preinstall and
# postinstall of the pkg, and the uninstaller's): paths, the install log,
# bounded calls, the console user, our VPN configurations, the app's
# process and launchd jobs. Sourced by each (it sits next to them), never
# run on its own.
# The sourcing script sets SCRIPT (its name) and TARGET_VOLUME (Installer's
# $3, "/" for the boot volume) first.

ROOT="${TARGET_VOLUME%/}"
LOG="$ROOT/var/log/{{LOG_NAME}}-install.log"
APP_PATH="$ROOT/Applications/{{APP_BUNDLE}}"
APP_EXE="$APP_PATH/Contents/MacOS/{{APP_EXECUTABLE}}"
APP_ID="{{APP_ID}}"
# The app's own process, for pgrep/pkill -f, which match an extended
# regular expression against the whole command line: the executable's path
# (escaped: volume names may hold brackets and dots) with no arguments, as
# LaunchServices starts it (macOS before 10.9 added -psn_<serial>).
# Anchored at both ends, so that the app's executable running `upgrade
# finish` (another installation's, or the login agent's) is not taken for
# the app.
# shellcheck disable=SC2016 # the $ is a character to escape, not an expansion
APP_EXE_RE=$(printf '%s' "$APP_EXE" | sed 's/[][\\.*^$()+?{}|]/\\&/g')
APP_PATTERN="^$APP_EXE_RE( -psn_[0-9_]+)?\$"
# The app's bundle id as a basic regular expression (its dots escaped), to
# find the lines of `scutil --nc list` it saved.
APP_ID_RE=$(printf '%s' "$APP_ID" | sed 's/[.]/\\./g')
NEW_VERSION="{{VERSION}}"
TEAM_ID="{{TEAM_ID}}"
EXTENSION_ID="{{EXTENSION_ID}}"
# The receipt the pkg leaves (pkgutil --pkgs).
PACKAGE_ID="{{PACKAGE_ID}}"
# Root-owned: all of the app's data on the volume (the extension's
# profiles, the upgrade state, an uninstall waiting for a login).
SYSTEM_DIR="$ROOT/{{SYSTEM_DIR}}"
# Root-owned: the state preinstall records for the new app to read.
STATE_DIR="$ROOT/{{STATE_DIR}}"
STATE="$STATE_DIR/state.json"
# One installation at a time: MDM may retry while a user double-clicks the
# same pkg. preinstall takes the lock, postinstall gives it back.
LOCK_DIR="$STATE_DIR/install.lock"
# Seconds a second installation waits for the first, and minutes after
# which a lock is taken to be left by an installation that stopped halfway
# (a run takes well under this: its steps are bounded).
LOCK_WAIT=180
LOCK_STALE_MINUTES=15
# Runs `upgrade finish` at the next login when nobody was logged in.
AGENT_LABEL="{{AGENT_LABEL}}"
AGENT_PLIST="$ROOT/Library/LaunchAgents/$AGENT_LABEL.plist"
# An uninstall nobody was logged in for: a login agent has the app
# deactivate the extension, then a launch daemon, run from a copy of the
# uninstaller's scripts, removes the rest.
UNINSTALL_LABEL="{{UNINSTALL_LABEL}}"
UNINSTALL_AGENT="$ROOT/Library/LaunchAgents/$UNINSTALL_LABEL.plist"
UNINSTALL_DAEMON="$ROOT/Library/LaunchDaemons/$UNINSTALL_LABEL.plist"
UNINSTALLER_COPY="$SYSTEM_DIR/Uninstaller"
# Each user's data, under their home.
USER_DATA="{{USER_DATA_DIR}}"

# Every step goes to the install log (timestamped) and the unified log.
log() {
    printf '%s %s[%s]: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$SCRIPT" "$$" "$*" \
        >>"$LOG" 2>/dev/null || true
    logger -t "{{LOG_NAME}}-install" "$SCRIPT: $*" 2>/dev/null || true
}

# process_tree PID: PID and every process below it, from one `ps` table.
process_tree() {
    ps -A -o pid= -o ppid= 2>/dev/null | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            tree[root] = 1
            for (grew = 1; grew;) {
                grew = 0
                for (pid in parent)
                    if (!(pid in tree) && (parent[pid] in tree)) { tree[pid] = 1; grew = 1 }
            }
            for (pid in tree) print pid
        }'
}

# bounded SECONDS COMMAND...: runs COMMAND, ending it after SECONDS. Its
# status, or 124 when it was ended (macOS has no timeout(1)).
# - What it started is ended too: a function such as as_console_user
#   leaves launchctl, sudo and the app below it, and a child that ignores
#   TERM is killed. The tree is taken before the TERM, as a child that dies
#   leaves its own children to launchd. (A process group would be simpler,
#   but /bin/sh may be dash (sh(1) on macOS: bash, dash or zsh, by
#   /private/var/select/sh), and dash turns job control off without a
#   terminal.)
# - COMMAND's output goes through root-owned temporary files, never a pipe
#   that something it left behind could hold open: `$(bounded ...)`
#   returns when COMMAND ends, not when the last holder of its stdout does.
bounded() {
    bounded_limit=$1
    shift
    bounded_out=$(mktemp "${TMPDIR:-/tmp}/{{LOG_NAME}}-out.XXXXXX") || return 1
    bounded_err=$(mktemp "${TMPDIR:-/tmp}/{{LOG_NAME}}-err.XXXXXX") || {
        rm -f "$bounded_out"
        return 1
    }
    "$@" >"$bounded_out" 2>"$bounded_err" &
    bounded_child=$!
    (
        sleep "$bounded_limit"
        bounded_tree=$(process_tree "$bounded_child")
        # shellcheck disable=SC2086 # a list of pids
        kill -TERM $bounded_tree 2>/dev/null
        sleep 1
        # shellcheck disable=SC2086,SC2046 # lists of pids
        kill -KILL $bounded_tree $(process_tree "$bounded_child") 2>/dev/null
    ) >/dev/null 2>&1 &
    bounded_watchdog=$!
    wait "$bounded_child"
    bounded_status=$?
    # The watchdog and its sleep.
    # shellcheck disable=SC2046
    kill $(process_tree "$bounded_watchdog") 2>/dev/null
    cat "$bounded_out"
    cat "$bounded_err" >&2
    rm -f "$bounded_out" "$bounded_err"
    # Ended by the watchdog's TERM or KILL.
    case $bounded_status in
        143 | 137)
            log "gave up on \`$1\` after ${bounded_limit}s"
            return 124
            ;;
    esac
    return "$bounded_status"
}

# wait_until SECONDS COMMAND...: runs COMMAND now and every 0.2 s until it
# succeeds (0) or SECONDS have passed (1).
wait_until() {
    wait_ticks=$(($1 * 5))
    shift
    until "$@"; do
        [ "$wait_ticks" -le 0 ] && return 1
        sleep 0.2
        wait_ticks=$((wait_ticks - 1))
    done
}

# Sets CONSOLE_USER and CONSOLE_UID to whoever is logged in at the console;
# fails at the login window, in Setup Assistant and for a root console
# (MDM installs), where nobody can run the app.
console_user() {
    owner=$(bounded 5 stat -f '%Su %u' /dev/console 2>/dev/null) || return 1
    CONSOLE_USER=${owner% *}
    CONSOLE_UID=${owner##* }
    case $CONSOLE_USER in
        "" | root | loginwindow | _mbsetupuser) return 1 ;;
    esac
    case $CONSOLE_UID in
        "" | *[!0-9]*) return 1 ;;
    esac
}

# The console user's home, from Directory Services. `dscl . -read
# /Users/NAME NFSHomeDirectory` prints `NFSHomeDirectory: /Users/name`, or,
# for a value with a space, the key alone and the value on the next line
# after a space (both in the `dscl -read` transcript of NetHack's
# sys/unix/hints/macosx.sh).
console_home() {
    bounded 5 dscl . -read "/Users/$CONSOLE_USER" NFSHomeDirectory 2>/dev/null |
        sed -n -e 's/^NFSHomeDirectory: //p' -e '/^NFSHomeDirectory:$/{n;s/^ //p;}'
}

# recorded_by_console_user LINE: whether the console user's app wrote LINE
# in its finished record: `ID` when it finished upgrade ID (a login
# agent's `upgrade finish --once` writes there), `ID tunnel-was-up` when a
# run of it that stopped for the user found the tunnel up.
recorded_by_console_user() {
    finished_home=$(console_home)
    [ -n "$finished_home" ] &&
        grep -qxF "$1" "$finished_home/{{FINISHED_RECORD}}" 2>/dev/null
}

# as_console_user COMMAND...: COMMAND in the console user's session, as them.
as_console_user() {
    launchctl asuser "$CONSOLE_UID" sudo -u "$CONSOLE_USER" "$@"
}

# Seconds each of these steps may take.
SCUTIL_LIMIT=5
QUIT_LIMIT=3
DISCONNECT_LIMIT=10

# Our VPN configurations, as "ID STATUS CUT NAME" lines (CUT is 1 when
# scutil cut the name), from `scutil --nc list`. Apple's scutil fixes the
# line (configd, scutil.tproj/nc.c):
#   * (Connected)      <UUID> VPN (<app id>) "<name, padded to 32>" [VPN:<app id>]
# - the bracket names the app that saved the configuration, never the
#   provider, whatever name an older version gave it; it is matched whole,
#   so another vendor's VPN never is;
# - a disabled configuration starts with a space and shows (Invalid);
# - the UUID is the key: names need not be unique, and a name of 31
#   characters or more loses its closing quote (and from 32 on its last
#   character).
our_services() {
    list=$(bounded "$SCUTIL_LIMIT" scutil --nc list) || return 1
    printf '%s\n' "$list" |
        sed -n "s/^[* ] (\([A-Za-z]*\)) *\([0-9A-Fa-f-]\{36\}\) VPN ($APP_ID_RE) *\"\(.*\) \[VPN:$APP_ID_RE\]\$/\2 \1 \3/p" |
        while IFS=' ' read -r id status field; do
            # `read` dropped the padding; a name that kept its closing
            # quote is whole.
            case $field in
                *\") printf '%s %s 0 %s\n' "$id" "$status" "${field%\"}" ;;
                *) printf '%s %s 1 %s\n' "$id" "$status" "$field" ;;
            esac
        done
}

# Whether service $1 is Disconnected (or gone); its status is left in
# `now` (first line of `scutil --nc status`).
# shellcheck disable=SC2317 # called through wait_until
disconnected() {
    now=$(bounded "$SCUTIL_LIMIT" scutil --nc status "$1" 2>/dev/null | head -n 1)
    [ "${now:-Disconnected}" = Disconnected ]
}

# End the app: SIGTERM, then SIGKILL after QUIT_LIMIT seconds. Not an
# AppleScript quit: `osascript` sending Apple events can raise an
# Automation consent prompt, and an installer must not.
app_pids() {
    bounded 5 pgrep -f "$APP_PATTERN" 2>/dev/null
}
# shellcheck disable=SC2317 # called through wait_until
app_gone() {
    [ -z "$(app_pids)" ]
}
end_app() {
    if [ -z "$(app_pids)" ]; then
        log "the app is not running"
        return 0
    fi
    log "ending the app (SIGTERM)"
    bounded 5 pkill -TERM -f "$APP_PATTERN"
    if ! wait_until "$QUIT_LIMIT" app_gone; then
        bounded 5 pkill -KILL -f "$APP_PATTERN"
        log "the app was still running after ${QUIT_LIMIT}s: killed it"
    fi
    log "the app has quit"
}

# The installed app's CFBundleVersion, or nothing.
installed_version() {
    [ -f "$APP_PATH/Contents/Info.plist" ] || return 0
    bounded 5 defaults read "$APP_PATH/Contents/Info" CFBundleVersion 2>/dev/null || echo unknown
}

# version_newer A B: whether dotted version A is newer than B (numerically,
# part by part; missing parts are 0).
version_newer() {
    newer_a=$1
    newer_b=$2
    while [ -n "$newer_a$newer_b" ]; do
        part_a=$(printf '%s' "${newer_a%%.*}" | tr -cd '0-9')
        part_b=$(printf '%s' "${newer_b%%.*}" | tr -cd '0-9')
        case $newer_a in *.*) newer_a=${newer_a#*.} ;; *) newer_a= ;; esac
        case $newer_b in *.*) newer_b=${newer_b#*.} ;; *) newer_b= ;; esac
        [ "${part_a:-0}" -gt "${part_b:-0}" ] && return 0
        [ "${part_a:-0}" -lt "${part_b:-0}" ] && return 1
    done
    return 1
}

# The upgrade id a state file ($1) names, or nothing.
upgrade_id_in() {
    sed -n 's/^ *"upgrade_id": *"\([^"]*\)".*$/\1/p' "$1" 2>/dev/null | head -n 1
}

# A JSON string of $1: quote and backslash escaped, every character below
# U+0020 as \uXXXX (RFC 8259, section 7), newlines as \n; other bytes as
# they are (UTF-8 stays UTF-8). A trailing newline is dropped, as `$(...)`
# drops it.
json_string() {
    printf '%s' "$1" | LC_ALL=C awk '
        BEGIN {
            for (i = 1; i < 32; i++) escaped[sprintf("%c", i)] = sprintf("\\u%04x", i)
            printf "\""
        }
        NR > 1 { printf "\\n" }
        {
            line = ""
            for (i = 1; i <= length($0); i++) {
                c = substr($0, i, 1)
                if (c == "\\" || c == "\"") line = line "\\" c
                else if (c in escaped) line = line escaped[c]
                else line = line c
            }
            printf "%s", line
        }
        END { printf "\"" }'
}

# read_capped FILE BYTES: at most BYTES of FILE, if it is a regular file
# and not a symbolic link, without the control characters (all but tab and
# newline) that would rewrite a terminal showing the install log. For
# files root reads that someone else wrote: they are data, read once, and
# a huge one costs no more than BYTES.
read_capped() {
    [ -f "$1" ] && [ ! -L "$1" ] || return 1
    head -c "$2" "$1" | LC_ALL=C tr -d '\000-\010\013-\037\177'
}

# Takes the installation lock (mkdir is atomic), waiting up to LOCK_WAIT
# seconds for another installation to give it back; fails if it does not.
# A lock older than LOCK_STALE_MINUTES is taken over.
take_install_lock() {
    lock_waited=0
    # The folder is made each time: an uninstall removes it with the lock.
    until mkdir -p "$STATE_DIR" && mkdir "$LOCK_DIR" 2>/dev/null; do
        lock_owner=$(cat "$LOCK_DIR/owner" 2>/dev/null)
        if [ -n "$(find "$LOCK_DIR" -maxdepth 0 -mmin +"$LOCK_STALE_MINUTES" 2>/dev/null)" ]; then
            log "taking over the lock of an installation that stopped halfway ($lock_owner)"
            rm -rf "$LOCK_DIR"
            continue
        fi
        [ "$lock_waited" = 0 ] && [ "$LOCK_WAIT" -gt 0 ] && log "waiting for another installation to finish ($lock_owner)"
        [ "$lock_waited" -ge "$LOCK_WAIT" ] && return 1
        sleep 1
        lock_waited=$((lock_waited + 1))
    done
    printf '%s pid %s, %s, installing %s\n' "$SCRIPT" "$$" "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$NEW_VERSION" >"$LOCK_DIR/owner"
}

release_install_lock() {
    rm -rf "$LOCK_DIR"
}

xml() { printf '%s' "$1" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g'; }

# write_launchd_plist PLIST LABEL KEYS ARGS...: a launchd job's property
# list, written whole (0644): Label, KEYS (XML lines, as given) and
# ProgramArguments. launchd reads it at the next login (an agent) or boot
# (a daemon), or when bootstrapped.
write_launchd_plist() {
    plist_path=$1
    mkdir -p "$(dirname "$plist_path")"
    {
        printf '<?xml version="1.0" encoding="UTF-8"?>\n'
        printf '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        printf '<plist version="1.0">\n<dict>\n'
        printf '\t<key>Label</key>\n\t<string>%s</string>\n' "$(xml "$2")"
        printf '%s\n' "$3"
        shift 3
        printf '\t<key>ProgramArguments</key>\n\t<array>\n'
        for argument in "$@"; do
            printf '\t\t<string>%s</string>\n' "$(xml "$argument")"
        done
        printf '\t</array>\n</dict>\n</plist>\n'
    } >"$plist_path.new" && mv -f "$plist_path.new" "$plist_path"
    chmod 0644 "$plist_path"
}

# write_login_agent PLIST LABEL ARGS...: a LaunchAgent that opens the app
# with ARGS at the next login to the GUI. AssociatedBundleIdentifiers
# shows it under the app in Login Items, not as an unknown item (Apple,
# "Updating helper executables from earlier versions of macOS").
write_login_agent() {
    agent_plist=$1
    agent_label=$2
    shift 2
    write_launchd_plist "$agent_plist" "$agent_label" "$(
        printf '\t<key>AssociatedBundleIdentifiers</key>\n\t<array>\n\t\t<string>%s</string>\n\t</array>\n' "$(xml "$APP_ID")"
        printf '\t<key>LimitLoadToSessionType</key>\n\t<string>Aqua</string>\n'
        printf '\t<key>RunAtLoad</key>\n\t<true/>'
    )" /usr/bin/open -n -g -a "$APP_PATH" --args "$@"
}

# Calls off an uninstall that waits for a login: its agent, its daemon
# (`launchctl bootout system/LABEL` ends it if it runs) and its scripts.
cancel_deferred_uninstall() {
    rm -f "$UNINSTALL_AGENT"
    if [ -f "$UNINSTALL_DAEMON" ]; then
        rm -f "$UNINSTALL_DAEMON"
        bounded 10 launchctl bootout "system/$UNINSTALL_LABEL" >/dev/null 2>&1
    fi
    rm -rf "$UNINSTALLER_COPY"
}

#!/bin/sh
# Installs Dispatch as a systemd service: builds, installs, enables and starts it.
#
#   sudo ./install.sh              build (deno compile where its runtime download works, else the bundle),
#                                  install, enable, start (an upgrade is the same command)
#   sudo ./install.sh --no-build   install what dist/ already holds (the executable if built, else the bundle)
#   sudo ./install.sh --uninstall  stop, disable, remove the program and the unit; config, data and logs stay
#
# Packagers: DESTDIR=/stage stages the files (no user, no systemctl, no package installs, no chown) and
# PREFIX (default /usr) moves the program. DIST_DIR (default ./dist) is where builds go and are taken from.
#
# What goes where:
#   $PREFIX/bin/dispatch            the compiled executable, or a wrapper running the bundle with a private Deno
#   $PREFIX/lib/dispatch/           the bundle and that Deno (bundle builds only)
#   /etc/dispatch/env               settings and API key, mode 0600 (written once; never overwritten)
#   /etc/systemd/system/dispatch.service (+ dispatch.service.d/workspace.conf for the workspace roots)
#   /var/lib/dispatch/              data (SQLite databases)
#   /var/log/dispatch/              logs directory (the daemon logs to the journal: journalctl -u dispatch)
#   /srv/dispatch/                  the default workspace root
set -eu

NAME=install.sh
die() {
  echo "$NAME: $*" >&2
  exit 1
}
say() { echo "$NAME: $*"; }

BUILD=1
UNINSTALL=0
for arg in "$@"; do
  case "$arg" in
  --no-build) BUILD=0 ;;
  --uninstall) UNINSTALL=1 ;;
  -h | --help)
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown option $arg (see $0 --help)" ;;
  esac
done

SRC=$(cd "$(dirname "$0")" && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
DIST_DIR=${DIST_DIR:-$SRC/dist}
case "$PREFIX" in /*) ;; *) die "PREFIX must be an absolute path, got $PREFIX" ;; esac
if [ -n "$DESTDIR" ]; then
  case "$DESTDIR" in /*) ;; *) die "DESTDIR must be an absolute path, got $DESTDIR" ;; esac
fi

BIN=$DESTDIR$PREFIX/bin/dispatch
LIB=$DESTDIR$PREFIX/lib/dispatch
ETC=$DESTDIR/etc/dispatch
ENV_FILE=$ETC/env
UNIT_DIR=$DESTDIR/etc/systemd/system
UNIT=$UNIT_DIR/dispatch.service
DROPIN=$UNIT_DIR/dispatch.service.d/workspace.conf
DATA=$DESTDIR/var/lib/dispatch
LOGS=$DESTDIR/var/log/dispatch
WORKSPACE=$DESTDIR/srv/dispatch

# ------------------------------------------------------------------ checks

if [ -z "$DESTDIR" ]; then
  [ "$(id -u)" = 0 ] || die "run as root (sudo $0), or set DESTDIR to stage the files without installing"
  [ -d /run/systemd/system ] || die "systemd is not running on this machine (no /run/systemd/system); stage the files with DESTDIR=... and start 'dispatch serve' another way"
  command -v systemctl >/dev/null 2>&1 || die "systemctl not found; this installer needs systemd"
fi

# ------------------------------------------------------------------ uninstall

if [ "$UNINSTALL" = 1 ]; then
  if [ -z "$DESTDIR" ]; then
    systemctl disable --now dispatch.service 2>/dev/null || true
  fi
  rm -f "$BIN" "$UNIT" "$DROPIN"
  rmdir "$UNIT_DIR/dispatch.service.d" 2>/dev/null || true
  rm -rf "$LIB"
  [ -z "$DESTDIR" ] && systemctl daemon-reload
  say "removed $PREFIX/bin/dispatch, $PREFIX/lib/dispatch and the unit"
  say "kept /etc/dispatch/env, /var/lib/dispatch, /var/log/dispatch, /srv/dispatch and the dispatch user (remove them by hand to erase everything)"
  exit 0
fi

# ------------------------------------------------------------------ run-time dependencies

install_packages() {
  # $@: Debian-style package names; the same names serve apt, dnf, pacman, zypper and apk for these two.
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y "$@"
  elif command -v pacman >/dev/null 2>&1; then
    pacman -S --needed --noconfirm "$@"
  elif command -v zypper >/dev/null 2>&1; then
    zypper --non-interactive install "$@"
  elif command -v apk >/dev/null 2>&1; then
    apk add "$@"
  else
    return 1
  fi
}

missing=""
command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
command -v rg >/dev/null 2>&1 || missing="$missing ripgrep"
if [ -n "$missing" ]; then
  if [ -n "$DESTDIR" ]; then
    say "note: the program needs these packages at run time:$missing"
  else
    say "installing$missing"
    # shellcheck disable=SC2086 # one word per package
    install_packages $missing || die "could not install$missing; install them with your package manager and run $0 again"
  fi
fi

# ------------------------------------------------------------------ build

find_deno() {
  if [ -n "${DENO:-}" ]; then
    echo "$DENO"
  elif command -v deno >/dev/null 2>&1; then
    command -v deno
  else
    return 1
  fi
}

if [ "$BUILD" = 1 ]; then
  deno=$(find_deno) || die "deno not found (install Deno, set DENO=/path/to/deno, or use --no-build with a built $DIST_DIR)"
  rm -f "$DIST_DIR/dispatch"
  if (cd "$SRC" && "$deno" run --allow-all build/compile.ts --output "$DIST_DIR/dispatch"); then
    say "built the executable $DIST_DIR/dispatch"
  else
    say "deno compile did not work here; building the bundle instead"
    (cd "$SRC" && "$deno" run --allow-all build/bundle.ts --outdir "$DIST_DIR") || die "the bundle build failed"
  fi
fi

if [ -x "$DIST_DIR/dispatch" ] && [ -f "$DIST_DIR/dispatch" ]; then
  KIND=compiled
elif [ -f "$DIST_DIR/dispatch.js" ]; then
  KIND=bundle
  deno=$(find_deno) || die "the bundle needs a Deno to run it: install Deno or set DENO=/path/to/deno"
  deno=$(readlink -f "$deno")
else
  die "nothing built in $DIST_DIR (run $0 without --no-build, or deno task bundle)"
fi

# ------------------------------------------------------------------ the program

install -d -m 0755 "$DESTDIR$PREFIX/bin"
rm -rf "$LIB"
if [ "$KIND" = compiled ]; then
  install -m 0755 "$DIST_DIR/dispatch" "$BIN"
else
  install -d -m 0755 "$LIB"
  (cd "$DIST_DIR" && find dispatch.js sandbox extensions -type d) | while read -r dir; do
    install -d -m 0755 "$LIB/$dir"
  done
  (cd "$DIST_DIR" && find dispatch.js sandbox extensions -type f) | while read -r file; do
    install -m 0644 "$DIST_DIR/$file" "$LIB/$file"
  done
  install -m 0755 "$deno" "$LIB/deno"
  # The wrapper finds the bundle beside itself ($PREFIX/bin/../lib/dispatch), so a staged copy runs too.
  # Its flags are src/build_layout.ts's runtimeFlags() for a bundle, plus the permissions the daemon needs.
  tmp="$BIN.tmp.$$"
  cat >"$tmp" <<'EOF'
#!/bin/sh
# Dispatch (bundled build): runs the bundle in ../lib/dispatch with the Deno installed beside it.
lib=$(dirname "$(readlink -f "$0")")/../lib/dispatch
DENO_NO_UPDATE_CHECK=1 exec "$lib/deno" run --no-config --allow-all --unstable-worker-options "$lib/dispatch.js" "$@"
EOF
  chmod 0755 "$tmp"
  mv -f "$tmp" "$BIN"
fi
say "installed $PREFIX/bin/dispatch ($KIND)"

# ------------------------------------------------------------------ user, folders, env file

if [ -z "$DESTDIR" ] && ! id dispatch >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/dispatch --no-create-home \
    --shell /usr/sbin/nologin --comment "Dispatch agent daemon" dispatch
  say "created the system user dispatch"
fi

owned_dir() { # path mode
  install -d -m "$2" "$1"
  [ -z "$DESTDIR" ] && chown dispatch:dispatch "$1"
  return 0
}
owned_dir "$DATA" 0750
owned_dir "$LOGS" 0750
owned_dir "$WORKSPACE" 0755
install -d -m 0755 "$ETC"

if [ -e "$ENV_FILE" ]; then
  say "kept /etc/dispatch/env"
else
  # The program writes it, so the template has one definition (src/cli/setup.ts).
  if [ "$KIND" = compiled ]; then
    set -- "$BIN"
  else
    set -- "$LIB/deno" run --no-config --allow-all "$LIB/dispatch.js"
  fi
  if [ -z "$DESTDIR" ] && [ -t 0 ]; then
    "$@" setup --env-file "$ENV_FILE" || die "setup did not finish; run it again: sudo dispatch setup"
  else
    "$@" setup --env-file "$ENV_FILE" --no-input >/dev/null || die "could not write $ENV_FILE"
    say "wrote /etc/dispatch/env without an API key: run 'sudo dispatch setup' (or edit it), then 'systemctl restart dispatch'"
  fi
fi
[ -z "$DESTDIR" ] && chown root:root "$ENV_FILE"
chmod 0600 "$ENV_FILE"

# ------------------------------------------------------------------ the unit

# The last DISPATCH_WORKSPACE_ROOTS assignment in the env file, unquoted.
roots=$(sed -n 's/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}DISPATCH_WORKSPACE_ROOTS[[:space:]]*=[[:space:]]*//p' "$ENV_FILE" |
  tail -n 1 | sed "s/^[\"']//; s/[\"'][[:space:]]*\$//")
[ -n "$roots" ] || roots=/srv/dispatch

install -d -m 0755 "$UNIT_DIR" "$UNIT_DIR/dispatch.service.d"
sed "s|^ExecStart=/usr/bin/dispatch |ExecStart=$PREFIX/bin/dispatch |" "$SRC/dispatch.service" >"$UNIT.tmp.$$"
chmod 0644 "$UNIT.tmp.$$"
mv -f "$UNIT.tmp.$$" "$UNIT"

{
  echo "# Written by install.sh from DISPATCH_WORKSPACE_ROOTS in /etc/dispatch/env; run it again after changing them."
  echo "[Service]"
  home=no
  old_ifs=$IFS
  IFS=:
  for root in $roots; do
    case "$root" in
    /*) ;;
    *) die "DISPATCH_WORKSPACE_ROOTS in /etc/dispatch/env: \"$root\" is not an absolute path" ;;
    esac
    case "$root" in *[[:space:]]*) die "DISPATCH_WORKSPACE_ROOTS: \"$root\" has a space, which systemd cannot take here" ;; esac
    echo "ReadWritePaths=-$root"
    case "$root" in
    /home | /home/* | /root | /root/* | /run/user | /run/user/*)
      home=yes
      echo "BindPaths=-$root"
      ;;
    esac
  done
  IFS=$old_ifs
  # Home folders stay hidden (an empty tmpfs) except the roots bound into it.
  [ "$home" = yes ] && echo "ProtectHome=tmpfs"
  true
} >"$DROPIN.tmp.$$"
chmod 0644 "$DROPIN.tmp.$$"
mv -f "$DROPIN.tmp.$$" "$DROPIN"
say "installed the unit (workspace roots: $roots)"

# ------------------------------------------------------------------ start

if [ -n "$DESTDIR" ]; then
  say "staged into $DESTDIR"
  exit 0
fi
systemctl daemon-reload
systemctl enable dispatch.service >/dev/null
systemctl restart dispatch.service
say "dispatch is running: systemctl status dispatch; journalctl -u dispatch -f; curl -s localhost:24991/health"

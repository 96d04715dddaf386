#!/usr/bin/env bash
# The demo (make run): portierd with its demo organization, and two portier-unit processes
# with the sim driver on the demo doors. Ctrl-C stops everything.
set -euo pipefail
DATA=${1:-data}
LISTEN=${2:-127.0.0.1:8080}
BIN=${BIN:-build/src}
SERVER_URL="http://$LISTEN"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$BIN/server/portierd" serve --data "$DATA" --listen "$LISTEN" --demo &
pids+=($!)

# Wait until portierd has seeded the demo (first start) and listens.
for _ in $(seq 100); do [ -f "$DATA/demo-units.txt" ] && break; sleep 0.1; done
if [ ! -f "$DATA/demo-units.txt" ]; then
  echo "no demo units in $DATA (made by an older portierd?): remove $DATA to get them" >&2
  wait "${pids[0]}"
  exit
fi
while read -r unit code name; do
  [ -n "$unit" ] || continue
  state="$DATA/units/$unit"
  if [ ! -f "$state/unit.json" ]; then
    for _ in $(seq 50); do
      "$BIN/unit/portier-unit" enroll --server "$SERVER_URL" --code "$code" --state "$state" \
        2>/dev/null && break
      sleep 0.2
    done
  fi
  "$BIN/unit/portier-unit" run --state "$state" --name "$name" &
  pids+=($!)
  echo "unit \"$name\" ($unit): sim relay log in $state/sim/relay.log;" \
       "door sensors: write open/closed to $state/sim/DOOR_ID.door"
done < "$DATA/demo-units.txt"

cat <<TXT
in a browser (passwords above): the console $SERVER_URL/ (admin@demo.portier.dev),
the app $SERVER_URL/app/ (maria@ or joan@demo.portier.dev; a phone-width window shows it best)
open a demo door from the CLI:
  ./build/src/cli/portier login --server $SERVER_URL --email joan@demo.portier.dev   (password above)
  ./build/src/cli/portier doors list
  ./build/src/cli/portier open DOOR_ID
TXT
wait "${pids[0]}"

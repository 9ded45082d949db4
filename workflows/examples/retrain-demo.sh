#!/bin/sh
# The retrain loop of workflows/examples/retrain.yaml over several days, as
# `make demo-retrain` runs it: the first production version of drift-demo
# (retrain-bootstrap.yaml), then a backfill of the schedule's daily slots,
# run by a cairn server one after the other, and a line per day: whether
# retraining was due, the features that drifted, and the version in
# production after the run.
#
#   workflows/examples/retrain-demo.sh [CAIRN [HOME [FROM [TO]]]]
#
# CAIRN is the binary (default bin/cairn), HOME the Cairn home (default
# .cairn-demo-retrain, removed first), FROM and TO the first and last day
# (default 2024-01-01 and 2024-01-08). The data shifts a little more each
# day from 2024-01-04 on: expect no retrain at first, then a retrain and a
# promotion once the drift is large enough (2024-01-07 with the defaults),
# and none again right after.
set -eu
cairn=${1:-bin/cairn}
home=${2:-.cairn-demo-retrain}
from=${3:-2024-01-01}
to=${4:-2024-01-08}
dir=$(cd "$(dirname "$0")" && pwd)
rm -rf "$home"
c() { "$cairn" --home "$home" "$@"; }

# show RUN TASK NAME prints output NAME of task TASK of RUN as cairn show
# does (JSON), or nothing.
show() {
	c show "$1" | awk -v task="$2" -v name="$3" '
		/^[^ ]/ { in_task = ($0 == task) }
		in_task && $1 == "output" && $2 == name { sub(/^ *output +[^ ]+ = /, ""); print; exit }'
}

echo "== bootstrap: train, evaluate and deploy the first production version"
if ! out=$(c run "$dir/retrain-bootstrap.yaml" --progress none 2>&1); then
	printf '%s\n' "$out" >&2
	exit 1
fi
boot=$(c runs -q --limit 1)
echo "drift-demo@$(show "$boot" deploy version) in production (run $boot)"

echo
echo "== cairn backfill of retrain.yaml's daily slots from $from to $to, run by a cairn server"
ids=$(c backfill "$dir/retrain.yaml" --from "$from" --to "$to" --quiet)
# The binary itself in the background, not the function c: $! must be the
# server's pid, or the kill below would end a subshell and leave it running.
"$cairn" --home "$home" server --addr 127.0.0.1:0 >"$home/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
waited=0
for id in $ids; do
	while :; do
		state=$(c show "$id" | awk '$1 == "state" { print $2; exit }')
		case $state in
		succeeded) break ;;
		failed | cancelled)
			c show "$id" >&2
			exit 1
			;;
		esac
		if [ "$waited" -ge 600 ] || ! kill -0 "$server" 2>/dev/null; then
			echo "run $id is still $state; the server's log:" >&2
			cat "$home/server.log" >&2
			exit 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
done
kill "$server"
wait "$server" 2>/dev/null || true
trap - EXIT

printf '%-11s %-15s %-9s %-13s %s\n' DAY SHOULD_RETRAIN DRIFTED PRODUCTION WHY
for id in $ids; do
	day=$(c show "$id" --json | tr ',' '\n' | sed -n 's/.*"scheduled_for": *"\([0-9-]*\)T.*/\1/p' | head -n 1)
	should=$(show "$id" drift should_retrain)
	drifted=$(show "$id" drift drifted | tr -d '[]"')
	version=$(show "$id" drift production_version)
	why=$(show "$id" drift reason | tr -d '"')
	if [ "$should" = true ]; then
		new=$(show "$id" deploy version)
		if [ -n "$new" ]; then
			version="$new"
			why="$why; promoted: the challenger beat the champion"
		else
			why="$why; not promoted: the challenger did not beat the champion"
		fi
	fi
	printf '%-11s %-15s %-9s %-13s %s\n' "$day" "$should" "${drifted:--}" "drift-demo@$version" "$why"
done
echo
echo "every run: $cairn --home $home runs; one: $cairn --home $home show RUN"

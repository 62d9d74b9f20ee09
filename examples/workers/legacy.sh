#!/bin/sh
# Demo worker without the SDK: a plain shell loop. Now and then it freezes itself with SIGSTOP,
# as a process does when someone presses Ctrl-Z or a debugger attaches. Shepherd reads its state
# from /proc (T, stopped) and recovers it once it has been stopped for the hang timeout.
echo "$SHEPHERD_WORKER_ID polling the legacy system"
i=0
freeze_at=$(( 20 + $$ % 40 ))
while true; do
  i=$((i + 1))
  [ $((i % 10)) -eq 0 ] && echo "$SHEPHERD_WORKER_ID poll $i ok"
  if [ "$i" -eq "$freeze_at" ]; then
    echo "$SHEPHERD_WORKER_ID freezes itself (SIGSTOP)" >&2
    kill -STOP $$
  fi
  sleep 1
done

#pragma once
// The raw floor: a minimal epoll server that accepts TCP connections and, on a trigger, writes
// the same bytes to every one of them. What any push server must at least cost on this machine.
//
// Commands on standard input, one per line; answers on standard output:
//   count            -> "count N"          (connections accepted and open)
//   send SIZE TAG    -> "sent N MICROS"    (SIZE bytes carrying the tag, then '\n', to all N)
//   close            -> "closed"           (closes every connection)
//   quit
// It prints "listening on PORT" when ready.

namespace portier::bench {

int floor_main();

}  // namespace portier::bench

# moto's server as the local stack runs it: `python -c <this> -H HOST -p PORT`.
#
# What moto gets wrong that no proxy in front of it can correct is corrected here,
# before the server starts:
#
# - DynamoDB operations are not isolated from each other. moto serves each request
#   on a thread of its own, and a transaction (`TransactWriteItems`) snapshots the
#   whole table and, when one of its conditions fails, puts the snapshot back:
#   every write that another request made in between is lost (a counter that
#   went back, an item that came back after its delete). DynamoDB isolates each
#   operation, so here one DynamoDB operation runs at a time (moto runs one
#   Python thread at a time anyway; its other services keep serving, long polls
#   included).
import sys
import threading

from moto.dynamodb.responses import DynamoHandler

_one_at_a_time = threading.RLock()
_call_action = DynamoHandler.call_action


def _isolated(self):
    with _one_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = _isolated

from moto.server import main  # noqa: E402  (after the corrections)

sys.exit(main(sys.argv[1:]))

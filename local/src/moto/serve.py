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

# - A transaction (`TransactWriteItems`) deep-copies every table it names, once
#   for each of its items, to put back if it is cancelled: its time grows with
#   the table (over one run of the tests, from 1.3 s to 4.3 s), and every other
#   DynamoDB call waits for it (above) while the copy holds Python's lock from
#   the other services too; a health probe's two seconds ran out. Here a
#   transaction saves the items it names instead, as they were, and puts those
#   back when it is cancelled.
import copy  # noqa: E402

import moto.dynamodb.models as _dynamodb_models  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402


class _TablesNotCopied:
    """`copy` as moto's DynamoDB backend sees it, except that a whole table is
    not copied (the transaction saves the items it names instead)."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_dynamodb_models.copy = _TablesNotCopied()
_transact_write_items = DynamoDBBackend.transact_write_items


def _items_named(backend, transact_items):
    """(table, hash key, range key, a copy of the item or None) for each item
    the transaction names; one moto refuses by itself is left out."""
    saved = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            keys = op.get("Key") or {
                name: op["Item"][name]
                for name in (table.hash_key_attr, table.range_key_attr)
                if name
            }
            hash_key, range_key = backend.get_keys_value(table, keys)
            current = table.get_item(hash_key, range_key)
        except Exception:  # noqa: BLE001  (moto answers the request's own error)
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(current)))
    return saved


def _put_back(saved):
    for table, hash_key, range_key, item in reversed(saved):
        if range_key is not None:
            if item is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        elif item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item


def _transact_saving_items(self, transact_items):
    saved = _items_named(self, transact_items)
    try:
        return _transact_write_items(self, transact_items)
    except BaseException:
        _put_back(saved)
        raise


DynamoDBBackend.transact_write_items = _transact_saving_items

from moto.server import main  # noqa: E402  (after the corrections)

sys.exit(main(sys.argv[1:]))

"""convmat.dask on a real distributed cluster: two worker processes on loopback.

The graphs are pickled, shipped to other processes and run there; results
must equal the in-memory functions, and each worker must build one engine
per block shape and one operator, however many tasks use them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import convmat

# the [dask] extra: skipped, with this reason, where it is not installed
da = pytest.importorskip("dask.array", reason="dask is the [dask] extra")
distributed = pytest.importorskip("distributed", reason="distributed is the [dask] extra")
cd = pytest.importorskip("convmat.dask")
Client, LocalCluster = distributed.Client, distributed.LocalCluster


def _worker_state() -> dict[str, int]:
    from convmat import linop
    from convmat._engines import cache as _plans

    return {"engines": len(_plans._cache), "operators": len(linop._shared_ops)}


def _worker_clear() -> None:
    from convmat import linop
    from convmat._engines import cache as _plans

    _plans.clear()
    linop._shared_ops.clear()


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: another cluster may hold 8787
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def test_cluster_has_two_worker_processes(client) -> None:
    pids = client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2
    assert __import__("os").getpid() not in pids.values()


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_forward_and_transpose_on_the_cluster(client, mode, boundary) -> None:
    rng = np.random.default_rng(11)
    x = rng.integers(-500, 500, (3, 45, 38))
    k = rng.integers(-9, 9, (4, 5))
    dx = da.from_array(x, chunks=(2, (3, 20, 1, 21), (9, 2, 27)))
    lazy = [
        cd.conv2d(dx, k, mode, boundary, fillvalue=7),
        cd.correlate2d(dx, k, mode, boundary, fillvalue=-3),
    ]
    y = convmat.conv2d(x, k, mode, boundary)
    lazy.append(cd.conv_transpose2d(da.from_array(y, chunks=(1, 6, 11)), k, mode, boundary))
    got = client.compute(lazy, sync=True)
    np.testing.assert_array_equal(got[0], convmat.conv2d(x, k, mode, boundary, 7))
    np.testing.assert_array_equal(got[1], convmat.correlate2d(x, k, mode, boundary, -3))
    np.testing.assert_array_equal(got[2], convmat.conv_transpose2d(y, k, mode, boundary))


def test_floats_with_shift_are_bitwise_on_the_cluster(client) -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 64, 50)).astype(np.float32)
    k = rng.standard_normal((5, 4)).astype(np.float32)
    lazy = cd.conv2d(da.from_array(x, chunks=(1, 17, 13)), k, "same", "symm", method="shift")
    want = convmat.conv2d(x, k, "same", "symm", method="shift")
    np.testing.assert_array_equal(client.compute(lazy, sync=True), want)


def test_each_worker_builds_one_engine_per_block_shape(client) -> None:
    client.run(_worker_clear)
    x = da.ones((8, 96, 96), chunks=(1, 32, 32), dtype=np.int64)
    lazy = cd.conv2d(x, np.ones((3, 3), dtype=np.int64), "same", "wrap")  # one block shape
    assert client.compute(lazy, sync=True).sum() == 9 * 8 * 96 * 96
    engines = [s["engines"] for s in client.run(_worker_state).values()]
    assert lazy.npartitions == 72
    assert max(engines) == 1  # a worker that ran none of the tasks built none


def test_operator_on_a_batch_on_the_cluster(client) -> None:
    client.run(_worker_clear)
    rng = np.random.default_rng(13)
    k = rng.standard_normal((5, 5))
    op = convmat.ConvOperator(k, (24, 20), "same", "symm", method="sparse")
    x = rng.standard_normal((40, 24, 20))
    dx = da.from_array(x, chunks=(4, 24, 20))
    got, back = client.compute([op(dx), op.T(op(dx))], sync=True)
    np.testing.assert_array_equal(got, op(x))
    np.testing.assert_array_equal(back, op.T(op(x)))
    # ten chunks and two products: each worker unpickled one operator, whatever its tasks
    state = client.run(_worker_state).values()
    assert max(s["operators"] for s in state) == 1

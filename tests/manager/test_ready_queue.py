"""The ready queue and pool counts the manager schedules with (manager/ready.py), on their own."""

from __future__ import annotations

from air_executor_manager.ready import PoolUse, ReadyQueue


def test_best_is_highest_priority_then_oldest_and_skips_full_pools() -> None:
    queue, pools = ReadyQueue(), PoolUse({"gpu": 1})
    queue.add(0, 0, None, 1, 0.0)
    queue.add(1, 5, "gpu", 1, 0.0)
    queue.add(2, 5, None, 1, 0.0)
    queue.add(3, 9, "gpu", 1, 0.0)
    assert queue.best(pools.room) == 3
    pools.take("job", "launch-3", "gpu", 1)
    queue.discard(3)
    assert queue.best(pools.room) == 2  # task 1 ranks as high but its pool is full
    assert queue.best() == 1  # ignoring pools: same priority, readied first
    assert queue.pools() == {"gpu"}
    queue.discard(2)
    assert queue.best(pools.room) == 0


def test_a_pool_wakes_the_jobs_it_held_back_when_it_gives_slots_back() -> None:
    pools = PoolUse({"gpu": 2})
    pools.take("a", "l1", "gpu", 2)
    assert not pools.room("gpu", 1) and pools.room(None, 1)
    pools.wait_for("b", {"gpu"})
    assert pools.woken() == set()
    pools.give_back("a", "l1")
    assert pools.woken() == {"b"} and pools.woken() == set()
    pools.take("a", "l2", "gpu", 1)
    pools.take("a", "l2", "gpu", 1)  # counted once per launch
    assert pools.view() == {"gpu": {"size": 2, "used": 1}}
    pools.give_back_job("a")
    assert pools.view() == {"gpu": {"size": 2, "used": 0}}


def test_readding_a_task_moves_it() -> None:
    queue = ReadyQueue()
    queue.add(0, 1, None, 1, 0.0)
    queue.add(1, 0, None, 1, 0.0)
    queue.add(0, -1, None, 1, 0.0)  # its priority changed (a retry of a rewritten task)
    assert queue.best() == 1 and len(queue) == 2

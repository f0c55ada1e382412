"""l2lib.runtime: profiles, devices, seeds and the threads a process trains with."""

import pytest
import torch

from l2lib import runtime


def test_threads_share_the_usable_cores_among_workers(monkeypatch):
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)
    monkeypatch.delenv(runtime.WORKERS_ENV, raising=False)
    monkeypatch.setattr(runtime, "usable_cores", lambda: 8)
    assert runtime.intra_op_threads() == 8
    assert runtime.intra_op_threads(workers=3) == 2
    assert runtime.intra_op_threads(workers=16) == 1
    monkeypatch.setenv(runtime.WORKERS_ENV, "4")
    assert runtime.intra_op_threads() == 2
    monkeypatch.setenv(runtime.THREADS_ENV, "3")  # the override wins
    assert runtime.intra_op_threads(workers=8) == 3


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_thread_settings_name_the_variable(monkeypatch, value):
    monkeypatch.setenv(runtime.THREADS_ENV, value)
    with pytest.raises(ValueError, match=f"L2LIB_THREADS={value!r} must be a positive integer"):
        runtime.intra_op_threads()


def test_configure_threads_sets_torch(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert runtime.configure_threads(threads=1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("device,match", [
    ("mps", "device 'mps' is not supported"),
    ("tpu", "unknown device 'tpu'"),
    ("cuda:x", "unknown device"),
])
def test_unsupported_devices_are_named(device, match):
    with pytest.raises(ValueError, match=match):
        runtime.resolve_device(device)


def test_profiles_and_seeds():
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        runtime.check_profile("fast")
    assert runtime.derived_seed(1, 2) == runtime.derived_seed(1, 2) != runtime.derived_seed(2, 1)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        runtime.check_seed(-1, "seed")

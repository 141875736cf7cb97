"""pipeline/beam_signatures: Beam's signature lookups remembered per function give
Beam's own answers, for every kind of callable a DoFn or a Map can hold."""
import functools

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, userstate

from pipeline import beam_signatures

COUNT = userstate.ReadModifyWriteStateSpec("count", VarIntCoder())
TIMER = userstate.TimerSpec("flush", userstate.TimeDomain.WATERMARK)


class Stateful(beam.DoFn):
    def process(self, element, count=beam.DoFn.StateParam(COUNT),
                flush=beam.DoFn.TimerParam(TIMER), ts=beam.DoFn.TimestampParam):
        seen = (count.read() or 0) + 1
        count.write(seen)
        yield element[0], seen

    @userstate.on_timer(TIMER)
    def on_flush(self, count=beam.DoFn.StateParam(COUNT)):
        return []


class Plain(beam.DoFn):
    def process(self, element, window=beam.DoFn.WindowParam):
        yield element

    def helper(self, a, b=2, *rest, c=3, **more):
        return a


def _decorated(fn):
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        return fn(*args, **kwargs)
    return inner


class Callable:
    def __call__(self, element, key=beam.DoFn.KeyParam):
        return element


def _callables():
    plain = Plain()
    return [
        plain.process, plain.helper, Plain.helper, Stateful().process,
        lambda x, ts=beam.DoFn.TimestampParam: x,
        _decorated(lambda x, w=beam.DoFn.WindowParam: x),
        Callable(), len, str.upper, functools.partial(Plain.helper, None),
    ]


@pytest.fixture
def cached():
    original = core.get_function_args_defaults
    original = getattr(original, "__wrapped__", original)
    return original, beam_signatures._cached(original)


def test_every_kind_of_callable_gets_beams_own_answer(cached):
    original, remembered = cached
    for f in _callables():
        expected = original(f)
        assert remembered(f) == expected, f
        assert remembered(f) == expected, f  # and again, from the cache


def test_changed_defaults_are_read_again(cached):
    original, remembered = cached

    def f(x, y=1):
        return x

    assert remembered(f) == (["x", "y"], [1])
    f.__defaults__ = (beam.DoFn.TimestampParam,)
    assert remembered(f) == (["x", "y"], [beam.DoFn.TimestampParam])
    f.__code__ = (lambda x, y, z=4: x).__code__
    f.__defaults__ = (4,)
    assert remembered(f) == original(f) == (["x", "y", "z"], [4])


def test_callers_get_lists_of_their_own(cached):
    _, remembered = cached
    plain = Plain()
    first = remembered(plain.helper)
    first[0].append("mutated")
    first[1].clear()
    assert remembered(plain.helper) == (["a", "b"], [2])


def test_installed_specs_and_validation_are_beams(cached):
    original, _ = cached
    beam_signatures.install()
    beam_signatures.install()  # idempotent: one layer, not two
    assert core.get_function_args_defaults.__wrapped__ is original
    assert userstate.get_dofn_specs(Stateful()) == ({COUNT}, {TIMER})
    assert userstate.get_dofn_specs(Plain()) == (set(), set())

    class Duplicated(beam.DoFn):
        def process(self, element, a=beam.DoFn.WindowParam, b=beam.DoFn.WindowParam):
            yield element

    with pytest.raises(ValueError, match="duplicate"):
        userstate.validate_stateful_dofn(Duplicated())


def test_a_stateful_pipeline_runs_with_it_installed():
    beam_signatures.install()
    with beam.Pipeline("FnApiRunner") as p:
        counted = (p | beam.Create([("a", 1), ("a", 2), ("b", 3)])
                   | beam.ParDo(Stateful()) | beam.Map(lambda kv: kv))
        assert_that(counted, equal_to([("a", 1), ("a", 2), ("b", 1)]))

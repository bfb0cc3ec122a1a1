"""Training-loop helpers: hard batches as a PyTorch batch sampler, incremental refresh.

:class:`HardBatches` iterates the batches of one epoch at a time from
:meth:`hardneg.Client.build_batches` as lists of row indices, and needs nothing but
the client. ``HardBatchSampler`` is the same as a ``torch.utils.data.Sampler``, for a
``DataLoader``'s ``batch_sampler`` (and so sentence-transformers'
MultipleNegativesRankingLoss, whose in-batch negatives are then hard); it needs torch,
which is imported only when ``HardBatchSampler`` is first used. ``HardBatchDataset`` is
a ``torch.utils.data.IterableDataset`` that yields the batches themselves (the rows of a
dataset you pass, collated), for a ``DataLoader(..., batch_size=None)`` with any number
of workers. :class:`RefreshCallback`
re-encodes the items the server's refresh queue names every few steps.

Example::

    from torch.utils.data import DataLoader
    from hardneg.training import HardBatchSampler

    sampler = HardBatchSampler(client, "docs", query_ids, positive_ids=pos_ids,
                               batch_size=32, strategy="clusters", epochs=3,
                               cluster_size=(8, 32))
    loader = DataLoader(pairs, batch_sampler=sampler, collate_fn=collate)
"""

from __future__ import annotations

import inspect
import numbers
import warnings
from typing import Any, Callable, Iterator, Optional

from hardneg import _codec as codec
from hardneg.types import HardBatch, RefreshQueue

__all__ = ["HardBatches", "HardBatchSampler", "HardBatchDataset", "RefreshCallback"]


def _check_client(client: Any, method: str, user: str) -> None:
    """client must be a synchronous client: these helpers run inside a training loop's
    plain (not asyncio) iteration."""
    fn = getattr(client, method, None)
    if fn is None:
        raise TypeError(f"client must be a hardneg.Client, got {client!r}")
    from hardneg.aio import AsyncClient

    if isinstance(client, AsyncClient) or inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"{user} needs a hardneg.Client; a hardneg.aio.AsyncClient cannot be iterated by a training loop")


#: The further options of HardBatches (Client.build_batches' keywords) and their defaults.
_BATCH_OPTIONS: dict[str, Any] = {
    "cluster_size": None,
    "num_nearest": 0,
    "num_sampled": 0,
    "sample_range": None,
    "exclude_near_duplicates": None,
    "duplicate_threshold": None,
    "duplicate_margin": None,
    "use_feedback": None,
    "anchor_vectors": None,
}


class HardBatches:
    """The hard batches of a training set, one epoch per iteration.

    Each iteration yields the batches of the current epoch as lists of row indices into
    ``anchor_ids`` (and so into the dataset built in the same order), then advances the
    epoch; :meth:`set_epoch` chooses it explicitly (as with PyTorch's
    ``DistributedSampler``). Epochs past ``epochs`` reuse the last epoch's schedule
    with another seed. The batches of an epoch are fetched once and kept, so
    ``len()`` before iterating costs no second call.

    Args:
        client: a :class:`hardneg.Client`.
        collection: the collection holding the anchors' vectors.
        anchor_ids: the anchors (one per training row).
        positive_ids: per anchor, its positive ids (kept apart from the other rows).
        batch_size, strategy, epochs, seed, cluster_size, num_nearest, num_sampled,
        sample_range, exclude_near_duplicates, duplicate_threshold, duplicate_margin,
        use_feedback, anchor_vectors: as :meth:`hardneg.Client.build_batches`.

    The arguments are checked when it is made, as :meth:`hardneg.Client.build_batches`
    checks them (ValueError, TypeError for an unknown option or an AsyncClient), so a
    mistake fails before the training loop starts rather than at its first epoch.
    """

    def __init__(
        self,
        client: Any,
        collection: str,
        anchor_ids: Any,
        *,
        positive_ids: Any = None,
        batch_size: int,
        strategy: str = "clusters",
        epochs: int = 1,
        seed: int = 0,
        **options: Any,
    ) -> None:
        _check_client(client, "build_batches", "HardBatches")
        if not isinstance(collection, str) or not collection:
            raise ValueError(f"collection must be a non-empty string, got {collection!r}")
        unknown = sorted(set(options) - set(_BATCH_OPTIONS))
        if unknown:
            raise TypeError(f"unknown argument(s) of HardBatches: {', '.join(unknown)}")
        self.client = client
        self.collection = collection
        self.anchor_ids = codec._as_id_list(anchor_ids, "anchor_ids", ordered=True)
        self.positive_ids = None if positive_ids is None else list(positive_ids)
        self.batch_size = batch_size
        self.strategy = strategy
        self.epochs = epochs
        self.seed = seed
        self.options = options
        # Client.build_batches' checks, now rather than at the first iteration: the
        # request of epoch 0 must be valid for every epoch's to be.
        codec.build_batches_request(collection, self.anchor_ids, self.positive_ids, batch_size=batch_size,
                                    strategy=strategy, epochs=epochs, first_epoch=0, num_epochs=1, seed=seed,
                                    **{**_BATCH_OPTIONS, **options})
        self.epoch = 0
        self.last: list[HardBatch] = []  # the batches of the epoch fetched last
        self._cached: Optional[tuple[int, list[HardBatch]]] = None

    def set_epoch(self, epoch: int) -> None:
        """Makes the next iteration build epoch ``epoch`` (an integer ≥ 0)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
            raise TypeError(f"epoch must be an integer, got {epoch!r}")
        if epoch < 0:
            raise ValueError(f"epoch must be ≥ 0, got {epoch}")
        self.epoch = int(epoch)

    def batches(self, epoch: int) -> list[HardBatch]:
        """The :class:`hardneg.HardBatch` values of ``epoch``."""
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        sched = min(epoch, self.epochs - 1)
        seed = self.seed if epoch < self.epochs else (self.seed + epoch) % 2**64
        out = list(
            self.client.build_batches(
                self.collection,
                self.anchor_ids,
                positive_ids=self.positive_ids,
                batch_size=self.batch_size,
                strategy=self.strategy,
                epochs=self.epochs,
                first_epoch=sched,
                num_epochs=1,
                seed=seed,
                **self.options,
            )
        )
        self._cached = (epoch, out)
        if out and len(self.anchor_ids) >= 2 * self.batch_size:
            mean = sum(len(b.rows) for b in out) / len(out)
            if mean < self.batch_size / 2:
                deferred = sum(b.deferred for b in out)
                warnings.warn(
                    f"epoch {epoch}: {len(out):,} batches of {mean:.1f} rows on average for batch_size {self.batch_size} "
                    f"({deferred:,} rows deferred): many rows' positives are the same items or near-duplicates of "
                    f"each other, and such rows never share a batch. In-batch-negative losses "
                    f"(MultipleNegativesRankingLoss) learn little from small batches; if those positives are distinct "
                    f"examples, raise duplicate_threshold or pass exclude_near_duplicates=False (docs/TRAINING.md)",
                    UserWarning, stacklevel=3)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.epoch
        self.last = self.batches(epoch)
        self.epoch = epoch + 1
        for b in self.last:
            yield list(b.rows)

    def __len__(self) -> int:
        return len(self.batches(self.epoch))


_sampler_class: Optional[type] = None


def _hard_batch_sampler() -> type:
    """``HardBatchSampler``: :class:`HardBatches` as a ``torch.utils.data.Sampler``."""
    global _sampler_class
    if _sampler_class is None:
        try:
            from torch.utils.data import Sampler
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("hardneg.training.HardBatchSampler needs torch: pip install torch") from e

        class HardBatchSampler(HardBatches, Sampler):  # type: ignore[misc,type-arg]
            __doc__ = (
                "A ``torch.utils.data.Sampler`` of hard batches (lists of row indices) for a "
                "``DataLoader``'s ``batch_sampler``; see :class:`hardneg.training.HardBatches`."
            )

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                HardBatches.__init__(self, *args, **kwargs)

        HardBatchSampler.__module__, HardBatchSampler.__qualname__ = __name__, "HardBatchSampler"
        _sampler_class = HardBatchSampler
    return _sampler_class


_dataset_class: Optional[type] = None


def _hard_batch_dataset() -> type:
    """``HardBatchDataset``: the hard batches of a dataset as a ``torch.utils.data.IterableDataset``."""
    global _dataset_class
    if _dataset_class is None:
        try:
            from torch.utils.data import IterableDataset, get_worker_info
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("hardneg.training.HardBatchDataset needs torch: pip install torch") from e

        class HardBatchDataset(IterableDataset):  # type: ignore[misc,type-arg]
            """The hard batches of ``dataset`` (indexable like the anchors: row i is
            anchor ``anchor_ids[i]``), one epoch per iteration, each batch as
            ``collate_fn([dataset[i] for i in rows])`` (the list itself without
            ``collate_fn``). Use it with ``DataLoader(ds, batch_size=None)``; with
            ``num_workers=n`` each worker builds the epoch's batches (the same, from
            the same seed) and yields every n-th, so each batch is yielded once. The
            other arguments are :class:`HardBatches`'; ``set_epoch`` chooses the epoch
            (call it before each epoch when the DataLoader runs workers: they iterate
            copies, so the epoch does not advance by itself there).
            """

            def __init__(self, dataset: Any, *args: Any, collate_fn: Optional[Callable[[list[Any]], Any]] = None,
                         **kwargs: Any) -> None:
                if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
                    raise TypeError(f"dataset must be indexable and have a length (a list, a map-style Dataset), "
                                    f"got {type(dataset).__name__}")
                if collate_fn is not None and not callable(collate_fn):
                    raise TypeError(f"collate_fn must be callable or None, got {collate_fn!r}")
                self.dataset = dataset
                self.collate_fn = collate_fn
                self.hard = HardBatches(*args, **kwargs)
                if len(dataset) != len(self.hard.anchor_ids):
                    raise ValueError(f"dataset has {len(dataset)} rows for {len(self.hard.anchor_ids)} anchors")

            def set_epoch(self, epoch: int) -> None:
                self.hard.set_epoch(epoch)

            def __len__(self) -> int:
                return len(self.hard)

            def __iter__(self) -> Iterator[Any]:
                info = get_worker_info()
                worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
                epoch = self.hard.epoch
                batches = self.hard.batches(epoch)
                self.hard.epoch = epoch + 1
                for b in batches[worker::workers]:
                    rows = [self.dataset[i] for i in b.rows]
                    yield self.collate_fn(rows) if self.collate_fn is not None else rows

        # Picklable (DataLoader workers receive the dataset): pickle finds the class
        # through the module's __getattr__.
        HardBatchDataset.__module__, HardBatchDataset.__qualname__ = __name__, "HardBatchDataset"
        _dataset_class = HardBatchDataset
    return _dataset_class


def __getattr__(name: str) -> Any:
    if name == "HardBatchSampler":
        return _hard_batch_sampler()
    if name == "HardBatchDataset":
        return _hard_batch_dataset()
    raise AttributeError(f"module 'hardneg.training' has no attribute {name!r}")


class RefreshCallback:
    """Re-encodes stale items incrementally from a training loop.

    Call it with the global step (counted across epochs) after each optimiser step:
    every ``every`` steps it
    re-encodes the next ``limit`` items of the collection's refresh queue (the stalest
    and most served first) with ``encode(ids) -> (len(ids), dim)`` vectors and upserts
    them with ``version=step`` (see :meth:`hardneg.Client.refresh`). It also works as a
    ``transformers``/sentence-transformers trainer callback through
    :meth:`on_step_end`: pass ``RefreshCallback(...).trainer_callback()``.

    Attributes:
        last: the :class:`hardneg.RefreshQueue` processed last, or ``None``.
        refreshed: items re-encoded so far.
    """

    def __init__(
        self,
        client: Any,
        collection: str,
        encode: Callable[[list[str]], Any],
        *,
        every: int = 100,
        limit: int = 1024,
    ) -> None:
        _check_client(client, "refresh", "RefreshCallback")
        if not isinstance(collection, str) or not collection:
            raise ValueError(f"collection must be a non-empty string, got {collection!r}")
        if not callable(encode):
            raise TypeError(f"encode must be a callable from ids to vectors, got {encode!r}")
        for name, v in (("every", every), ("limit", limit)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name} must be an integer, got {v!r}")
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        if not 0 <= limit <= codec.MAX_REFRESH_LIMIT:
            raise ValueError(f"limit must be 0 (the server's default) to {codec.MAX_REFRESH_LIMIT:,}, got {limit}")
        self.client = client
        self.collection = collection
        self.encode = encode
        self.every = every
        self.limit = limit
        self.last: Optional[RefreshQueue] = None
        self.refreshed = 0
        self._last_step = 0  # the step of the last refresh

    def __call__(self, step: int) -> Optional[RefreshQueue]:
        """Refreshes when ``step`` is a multiple of ``every``; returns the queue then.
        Raises ``ValueError`` when ``step`` is below the step of an earlier refresh:
        the items refreshed then carry that step as their version and would not be due
        again (a step counted within each epoch instead of across them)."""
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise TypeError(f"step must be an integer, got {step!r}")
        step = int(step)
        if step < self._last_step:
            raise ValueError(
                f"step went back to {step} after a refresh at step {self._last_step}: pass the global step, "
                f"counted across epochs (items refreshed at step {self._last_step} carry that version and would "
                f"not be due again below it)")
        if step <= 0 or step % self.every or step == self._last_step:
            return None
        self._last_step = step
        self.last = self.client.refresh(self.collection, self.encode, version=step, limit=self.limit)
        self.refreshed += len(self.last)
        return self.last

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """The ``transformers.TrainerCallback`` hook: refreshes at ``state.global_step``."""
        self(int(state.global_step))
        return control

    def trainer_callback(self) -> Any:
        """This callback as a ``transformers.TrainerCallback`` (needs transformers)."""
        try:
            from transformers import TrainerCallback
        except ImportError:
            raise ImportError("RefreshCallback.trainer_callback needs transformers: pip install transformers "
                              "(or call the RefreshCallback with the global step from your own loop)") from None

        outer = self

        class _Refresh(TrainerCallback):  # type: ignore[misc]
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
                return outer.on_step_end(args, state, control, **kwargs)

        return _Refresh()

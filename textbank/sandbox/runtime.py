"""The parts of one running sandbox that its request handlers share."""

from __future__ import annotations

import random

from aiohttp import web

from textbank.sandbox.callbacks import Dispatcher
from textbank.sandbox.config import SandboxConfig
from textbank.sandbox.state import SandboxState
from textbank.sandbox.voice import VoiceCalls


class Sandbox:
    """Config, state, the seeded dice every fault is rolled with, and the webhook senders."""

    def __init__(self, config: SandboxConfig, state: SandboxState) -> None:
        self.config = config
        self.state = state
        self._generation = config.seed_generation
        self._rng = random.Random(config.random_seed)
        self.dispatcher = Dispatcher(config, state, self.random)
        self.voice = VoiceCalls(config, state, self.dispatcher, self.random)

    def random(self) -> float:
        # random_seed may be set at runtime, from any thread; setting it restarts the sequence.
        if self.config.seed_generation != self._generation:
            self.reseed()
        return self._rng.random()

    def reseed(self) -> None:
        self._generation = self.config.seed_generation
        self._rng.seed(self.config.random_seed)

    async def start(self) -> None:
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.voice.stop()
        await self.dispatcher.stop()


SANDBOX = web.AppKey("sandbox", Sandbox)

#!/usr/bin/python3
"""The seed's snapshot endpoint as its design describes it (../shared/seeds/), for the ingest
bench only: FastAPI + Pydantic models validate the original payload (`api/app/models.py`), then
`process_snapshot` walks the game's clusters and, per NPC, compares the cluster with the last
known state kept in memory (`should_update`, "Phase 1: basic filtering"); the Letta calls the
seed would then make are left out (they would only make it slower). Answers
{"status": "success"} like the daemon's 202 body.

usage: /usr/bin/python3 bench/fastapi_seed.py PORT
(Debian 12: apt-get install python3-fastapi uvicorn; WITH_BENCH=1 scripts/install-deps.sh)
"""
import sys
from typing import Any, Dict, List, Optional

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class Position(BaseModel):
    x: float
    y: float
    z: float


class Health(BaseModel):
    current: Optional[float] = None
    max: Optional[float] = None
    state: Optional[str] = None
    isMoving: Optional[bool] = None
    velocity: Optional[float] = None


class CurrentGroups(BaseModel):
    members: List[str] = []
    npcs: int = 0
    players: int = 0
    formed: Optional[int] = None


class HumanContext(BaseModel):
    relationships: List[Any] = []
    currentGroups: Optional[CurrentGroups] = None
    recentInteractions: List[Dict[str, Any]] = []
    lastSeen: Optional[float] = None
    position: Optional[Position] = None
    location: Optional[str] = None
    health: Optional[Health] = None
    kind: Optional[str] = None
    id: Optional[Any] = None


class Cluster(BaseModel):
    members: List[str]
    npcs: int
    players: int


class GameSnapshot(BaseModel):
    timestamp: int
    events: List[Dict[str, Any]]
    clusters: List[Cluster]
    humanContext: Dict[str, HumanContext]
    gameId: Optional[str] = None


app = FastAPI()
LAST_KNOWN: Dict[str, Dict[str, Any]] = {}  # (game, npc) -> last cluster and location


def should_update(key: str, cluster: List[str], location: Optional[str]) -> bool:
    last = LAST_KNOWN.get(key)
    return last is None or last["cluster"] != cluster or last["location"] != location


def process_snapshot(snapshot: GameSnapshot) -> int:
    game = snapshot.gameId or "default"
    updates = 0
    for cluster in snapshot.clusters:
        members = sorted(cluster.members)
        for name in members:
            ctx = snapshot.humanContext.get(name)
            if ctx is None or ctx.kind != "npc":
                continue
            key = game + "/" + name
            if should_update(key, members, ctx.location):
                LAST_KNOWN[key] = {"cluster": members, "location": ctx.location}
                updates += 1
    return updates


@app.post("/letta/v1/snapshot/game")
async def snapshot_game(snapshot: GameSnapshot):
    process_snapshot(snapshot)
    return {"status": "success", "gameId": snapshot.gameId or "default", "queue": "urgent"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)

"""The demo seed brings a "1 + N" task force with tasks and ledger items of every colour, once."""

from sqlalchemy import select

from command_center import demo
from command_center.db import Database
from command_center.ledger.models import LedgerItem
from command_center.taskforces import service
from command_center.taskforces.models import Task, TaskForce
from tests.conftest import TEST_AUDIT_KEY


async def test_demo_work_is_seeded_once(database_url: str) -> None:
    database = Database(database_url, audit_key=TEST_AUDIT_KEY)
    try:
        async with database.session() as session:
            assert await demo.seed(session) == []  # the template was seeded already: nothing is added
            [taskforce] = (
                (await session.execute(select(TaskForce).where(TaskForce.name == demo.DEMO_TASKFORCE)))
                .scalars()
                .all()
            )
            assert taskforce.lead_department == "section"
            assert await service.departments(session, taskforce.id) == {
                "section",
                "police",
                "fire_rescue",
                "cyberspace",
            }
            owners = (await session.execute(select(Task.owner_department))).scalars().all()
            assert sorted(owners) == ["cyberspace", "fire_rescue", "police"]
            colours = set((await session.execute(select(LedgerItem.colour))).scalars())
            assert colours == {"none", "yellow", "orange", "red"}
    finally:
        await database.dispose()

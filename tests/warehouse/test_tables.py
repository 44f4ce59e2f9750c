"""Tables generated from the declaration; `init_schema` is idempotent and never drops data."""

from __future__ import annotations

import sqlalchemy as sa

from catalog_schema import Catalog, Resource
from warehouse import tables


def test_tables_exist_with_declared_columns(engine, catalog):
    inspector = sa.inspect(engine)
    names = set(inspector.get_table_names())
    assert {
        "population_person",
        "hist_population_person",
        "quarantine_population_person",
        "batch_ledger",
        "api_consumer",
    } <= names
    golden = {c["name"]: c for c in inspector.get_columns("population_person")}
    person = catalog.resource("population.person")
    assert [f.name for f in person.fields] == [c for c in golden if not c.startswith("_")]
    assert inspector.get_pk_constraint("population_person")["constrained_columns"] == ["id_number"]
    assert isinstance(golden["birth_date"]["type"], sa.Date)


def test_init_is_idempotent(engine, catalog):
    assert tables.init_schema(engine, catalog) == []
    assert tables.init_schema(engine, catalog) == []


def test_a_new_field_adds_a_column_and_keeps_the_data(engine, catalog):
    person = catalog.resource("population.person")
    golden = tables.for_resource(person).golden
    with engine.begin() as conn:
        conn.execute(
            golden.insert().values(
                id_number="11010519491231002X",
                name="张三",
                _batch_id="b",
                _created_at=sa.func.now(),
                _updated_at=sa.func.now(),
            )
        )
    extra = person.fields[1].model_copy(
        update={"name": "nickname", "label_zh": "曾用名", "rules": []}
    )
    grown = Resource.model_validate(
        person.model_dump() | {"fields": [*person.model_dump()["fields"], extra.model_dump()]}
    )
    wider = Catalog(catalog.directory, catalog.departments, {grown.code: grown}, {})
    try:
        changes = tables.init_schema(engine, wider)
        assert "added column population_person.nickname" in changes
        assert "added column hist_population_person.nickname" in changes
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT name, nickname FROM population_person")).one()
        assert tuple(row) == ("张三", None)
    finally:
        tables.for_resource(person)  # back to the packaged declaration for later tests


def test_tables_are_built_once_when_threads_race(catalog):
    from concurrent.futures import ThreadPoolExecutor

    from warehouse.tables import for_resource

    person = catalog.resource("population.person")
    grown = person.model_copy(update={"summary": person.summary + " (again)"})
    with ThreadPoolExecutor(16) as pool:
        built = list(pool.map(lambda _: for_resource(grown), range(64)))
    assert len({id(tables.golden) for tables in built}) == 1
    for_resource(person)  # back to the packaged declaration for the other tests

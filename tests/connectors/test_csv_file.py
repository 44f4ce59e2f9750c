"""The CSV connector: encodings, malformed rows, bounded streaming."""

from __future__ import annotations

import pytest

from connectors import ConnectorError
from connectors.csv_file import CsvFile, detect_encoding
from connectors.limits import Limits


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_detects_the_encoding_and_reads_headers(tmp_path, encoding):
    text = "姓名,民族\n张三,汉族\n" + ("刘䶮,汉族\n" if encoding not in ("gbk",) else "")
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode(encoding))
    assert detect_encoding(path) == encoding
    reader = CsvFile(path)
    assert reader.header == ["姓名", "民族"]
    rows = [row for batch in reader.batches() for row in batch.table.to_pylist()]
    assert rows[0] == {"姓名": "张三", "民族": "汉族"}


def test_streams_in_bounded_blocks(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "".join(f"{i},{'x' * 50}\n" for i in range(20000)), encoding="utf-8")
    batches = list(CsvFile(path, block_bytes=64 << 10).batches())
    assert len(batches) > 10
    assert max(b.table.num_rows for b in batches) < 2000
    assert sum(b.table.num_rows for b in batches) == 20000
    lines = [line for b in batches for line in b.lines.to_pylist()]
    assert lines == list(range(2, 20002))


def test_values_stay_strings(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,n\n007,1.50\n,\n\n008,\n", encoding="utf-8")
    (batch,) = list(CsvFile(path).batches())
    assert batch.table.to_pylist() == [{"id": "007", "n": "1.50"}, {"id": "008", "n": ""}]
    assert batch.lines.to_pylist() == [2, 5]  # rows with no value at all carry no data


def test_malformed_rows_are_returned_not_raised(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('a,b\n1,2\n3\n4,5,6\n7,8\n"9,10\n', encoding="utf-8")
    batches = list(CsvFile(path).batches())
    good = [row for b in batches for row in b.table.to_pylist()]
    bad = [m for b in batches for m in b.malformed]
    assert good == [{"a": "1", "b": "2"}, {"a": "7", "b": "8"}]
    assert [(m.line, m.text) for m in bad] == [(3, "3"), (4, "4,5,6"), (6, '"9,10')]
    assert [line for b in batches for line in b.lines.to_pylist()] == [2, 5]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b",a\n1,2\n", "column 1 has no header"),
        (b"a,a\n1,2\n", "header 'a' appears twice"),
        (b"a,b\n\xff\xfe\xfd,1\n", "cannot tell the encoding"),
    ],
)
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(ConnectorError, match=message):
        list(CsvFile(path).batches())


def test_missing_file(tmp_path):
    with pytest.raises(ConnectorError, match="file not found"):
        CsvFile(tmp_path / "nope.csv")


def test_checksum_is_stable(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a\n1\n", encoding="utf-8")
    assert CsvFile(path).checksum() == CsvFile(path).checksum()
    assert len(CsvFile(path).checksum()) == 64


def test_memory_does_not_grow_with_file_size(tmp_path):
    """Arrow memory held while streaming depends on the block size, not on the file."""
    import pyarrow as pa

    def peak(rows: int) -> int:
        path = tmp_path / f"f{rows}.csv"
        with path.open("w", encoding="utf-8") as handle:
            handle.write("a,b,c\n")
            for i in range(rows):
                handle.write(f"{i},{'x' * 40},{i * 7}\n")
        highest = 0
        for batch in CsvFile(path, block_bytes=128 << 10).batches():
            highest = max(highest, pa.total_allocated_bytes())
            del batch
        return highest

    # pyarrow reads a fixed number of blocks ahead: past that, the file's size does not matter
    medium, large = peak(200_000), peak(600_000)  # about 11 MB and 33 MB of CSV
    assert large < 1.5 * medium + (1 << 20)
    assert large < 12 << 20


def test_read_ahead_is_bounded_by_the_parse_size_not_the_block(tmp_path, monkeypatch):
    """pyarrow reads 32 parse blocks ahead: blocks are joined from small parse blocks."""
    import pyarrow as pa

    from connectors import csv_file

    path = tmp_path / "f.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("a,b,c\n")
        for i in range(200_000):  # about 11 MB
            handle.write(f"{i},{'x' * 40},{i * 7}\n")
    monkeypatch.setattr(csv_file, "PARSE_BYTES", 64 << 10)
    highest, sizes, lines = 0, [], []
    small = Limits(field_bytes=16 << 10)  # else the parse block grows to twice the field limit
    for batch in CsvFile(path, block_bytes=512 << 10, limits=small).batches():
        highest = max(highest, pa.total_allocated_bytes())
        sizes.append(batch.table.num_rows)
        lines += batch.lines.to_pylist()
        assert all(column.num_chunks == 1 for column in batch.table.columns)
        del batch
    assert lines == list(range(2, 200_002))
    assert len(sizes) < 30 and min(sizes[:-1]) > 7000  # eight parse blocks to a block
    assert highest < 5 << 20  # 32 blocks of 512 KiB ahead would be 16 MiB


def test_a_quote_never_closed_in_a_long_file_is_one_clear_line(tmp_path, monkeypatch):
    from connectors import csv_file

    monkeypatch.setattr(csv_file, "PARSE_BYTES", 16 << 10)
    path = tmp_path / "f.csv"
    path.write_text('a,b\n1,"x\n' + "2,y\n" * 10_000, encoding="utf-8")
    with pytest.raises(ConnectorError) as caught:
        list(CsvFile(path, block_bytes=64 << 10, limits=Limits(field_bytes=4 << 10)).batches())
    assert str(caught.value) == (
        f"{path}: a record runs over 16 KiB: a quote is never closed, or a value is over the "
        "field limit of 4 KiB (GDX_MAX_FIELD_KB raises it)"
    )


def test_line_numbers_skip_blank_and_malformed_lines_across_blocks(tmp_path):
    path = tmp_path / "f.csv"
    lines = ["a,b"]
    expected_good, expected_bad = [], []
    for n in range(2, 3002):
        if n % 97 == 0:
            lines.append("")  # blank
        elif n % 20 == 0:
            lines.append(f"{n}")  # ragged
            expected_bad.append(n)
        else:
            lines.append(f"{n},x")
            expected_good.append(n)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batches = list(CsvFile(path, block_bytes=2 << 10).batches())
    good = [
        (line, row["a"])
        for b in batches
        for line, row in zip(b.lines.to_pylist(), b.table.to_pylist(), strict=True)
    ]
    assert all(str(line) == value for line, value in good)
    assert [line for line, _ in good] == expected_good
    assert sorted(m.line for b in batches for m in b.malformed) == expected_bad

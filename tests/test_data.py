"""Data access: download/caching with checksum, the fixed-width parser, cluster lookup."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

import helpers

HEADER = (
    "Cluster     2MASS ID             RA          DEC          RV      E_RV     DCEN      J_mag"
    "         K_mag      P_Mem  NRV P_Single"
)
UNITS = "                                                      [km/sec]  [km/sec] [arcsec]"
# Real rows of the 2019 snapshot: no 2MASS ID and no photometry (123 chars), full row (127),
# and a row with J and K but no K error.
ROW_BLANK = (
    "NGC 288                      13.067548   -26.644618    -42.34     1.10    448.75"
    "                              0.421   1    "
)
ROW_FULL = (
    "NGC 288  00521239-2635224    13.051679   -26.589529    -45.54     0.48    441.18"
    "  13.97  0.02   13.36  0.04   0.803   2   0.325"
)
ROW_NO_EK = (
    "NGC 288  00521298-2627389    13.054106   -26.460795    -44.83     0.93    616.22"
    "  15.97  0.08   15.34         0.996   1    "
)


def table_lines(*rows: str) -> list[str]:
    return [HEADER, UNITS, *rows]


# ---------------------------------------------------------------- the real file


def test_real_file_counts(table):
    assert len(table.stars) == 32_784 - 2 - 1  # data rows minus the one skipped row
    assert len(helpers.cluster_names(table)) == 122
    assert helpers.cluster_names(table)[0] == "Arp 2"
    assert len(helpers.load_cluster("NGC 288", table)) == 386


def test_real_file_quirk_ngc6316_row_is_skipped_and_reported(table):
    (lineno, reason, text), = table.skipped
    assert lineno == 12737
    assert "NRV = 0" in reason
    assert text.startswith("NGC 6316") and "546830.00" in text
    assert table.stars.distance.max() < helpers.MAX_DISTANCE_ARCSEC


def test_real_file_values_are_sane(table):
    s = table.stars
    assert np.all(s.velocity_error > 0)
    assert np.all((s.p_mem >= 0) & (s.p_mem <= 1))
    assert np.all(s.n_rv >= 1)
    # the optional columns are present in some rows and absent (NaN) in others
    for field in ("j_mag", "k_mag", "k_mag_error", "p_single"):
        assert 0 < np.isnan(s[field]).sum() < len(s)


def test_rows_parse_by_position_not_by_whitespace():
    t = helpers.read_baumgardt_table(table_lines(ROW_BLANK, ROW_FULL, ROW_NO_EK))
    blank, full, no_ek = t.stars
    assert blank.twomass_id == "" and np.isnan(blank.j_mag) and blank.p_mem == 0.421
    assert blank.velocity == -42.34 and blank.velocity_error == 1.10 and blank.distance == 448.75
    assert full.twomass_id == "00521239-2635224" and full.k_mag_error == 0.04
    assert full.p_mem == 0.803 and full.n_rv == 2 and full.p_single == 0.325
    # whitespace splitting would read 0.996 as the K error here
    assert no_ek.k_mag == 15.34 and np.isnan(no_ek.k_mag_error) and no_ek.p_mem == 0.996
    assert list(t.stars.line) == [3, 4, 5]


def test_file_path_and_lines_give_the_same_table(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("\n".join(table_lines(ROW_BLANK, ROW_FULL)) + "\n")
    a = helpers.read_baumgardt_table(f).stars
    b = helpers.read_baumgardt_table(table_lines(ROW_BLANK, ROW_FULL)).stars
    assert a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- malformed input

MALFORMED = {
    "truncated row": (ROW_FULL[:100], r"line 3: 100 characters"),
    "row too long": (ROW_FULL + "   1.0", r"line 3: 133 characters"),
    "non-numeric velocity": (ROW_FULL[:55] + "abc.de" + ROW_FULL[61:], r"line 3: column 'velocity' holds"),
    "missing required value": (ROW_FULL[:62] + " " * 9 + ROW_FULL[71:], r"line 3: required column 'velocity_error'"),
    "columns shifted left": ((ROW_FULL[:9] + ROW_FULL[15:]).ljust(127), r"line 3: a value crosses the column"),
    "re-spaced with single blanks": (" ".join(ROW_FULL.split()).ljust(127), r"line 3: a value crosses .* character 27"),
    "value across a boundary": (ROW_FULL[:60] + "12345" + ROW_FULL[65:], r"line 3: a value crosses .* character 62"),
    "non-positive error": (ROW_FULL[:66] + "0.00" + ROW_FULL[70:], r"line 3: E_RV = 0.0 km/s is not positive"),
    "not finite": (ROW_FULL[:52] + "       nan" + ROW_FULL[62:], r"line 3: column 'velocity' is 'nan'"),
    # issue 18: a star at 1e19 km/s once reached the survey's fits and lost the whole survey; now the parser stops
    "absurd velocity": (ROW_FULL[:52] + "    1.0e19" + ROW_FULL[62:], r"line 3: velocity 1e\+19 km/s is beyond"),
    "implausible velocity": (ROW_FULL[:52] + "  -90000.0" + ROW_FULL[62:], r"line 3: velocity -90000 km/s is beyond"),
    "membership outside [0, 1]": (ROW_FULL[:110] + "1.803" + ROW_FULL[115:], r"line 3: P_Mem = 1.803"),
    "declination outside range": (ROW_FULL[:39] + "  -126.589529" + ROW_FULL[52:], r"line 3: DEC = -126.589529"),
    "tab character": (ROW_FULL.replace("    13.051679", "\t13.051679"), r"line 3: contains a tab"),
    "empty cluster name": (" " * 9 + ROW_FULL[9:], r"line 3: empty cluster name"),
    "fractional count": (ROW_FULL[:116] + " 2.5" + ROW_FULL[120:], r"line 3: NRV = 2.5 is not a count"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_rows_are_rejected_with_line_and_content(kind):
    row, match = MALFORMED[kind]
    with pytest.raises(helpers.DataFormatError, match=match) as err:
        helpers.read_baumgardt_table(table_lines(row))
    assert "<lines>" in str(err.value)


def test_malformed_row_reports_its_own_line_number():
    with pytest.raises(helpers.DataFormatError, match="line 5:"):
        helpers.read_baumgardt_table(table_lines(ROW_BLANK, ROW_FULL, ROW_FULL[:90]))


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["RA DEC RV", UNITS, ROW_FULL], "line 1: expected the compilation's header"),
        ([HEADER, ROW_FULL], "line 2: expected the units line"),
        ([], "line 1"),
        ([HEADER, UNITS, ROW_FULL, "", ROW_FULL], "line 4: blank line inside the table"),
    ],
)
def test_wrong_file_structure(lines, match):
    with pytest.raises(helpers.DataFormatError, match=match):
        helpers.read_baumgardt_table(lines)


def test_binary_file_is_rejected(tmp_path):
    f = tmp_path / "bin.txt"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(helpers.DataFormatError, match="not an ASCII text file"):
        helpers.read_baumgardt_table(f)


def test_far_row_is_skipped_by_policy():
    far = ROW_FULL[:71] + " 30000.00" + ROW_FULL[80:]
    t = helpers.read_baumgardt_table(table_lines(ROW_FULL, far))
    assert len(t.stars) == 1
    assert t.skipped[0][0] == 4 and "beyond" in t.skipped[0][1]


# ---------------------------------------------------------------- cluster lookup


def test_cluster_lookup_ignores_case_and_spaces(table):
    a = helpers.load_cluster("ngc288", table)
    b = helpers.load_cluster("NGC  288", table)
    assert len(a) == len(b) == 386 and set(a.cluster) == {"NGC 288"}


def test_unknown_cluster_lists_close_matches(table):
    with pytest.raises(KeyError, match="closest names: 'NGC 288'"):
        helpers.load_cluster("NGC 2888", table)


def test_per_cluster_whitespace_file(tmp_path):
    f = tmp_path / "NGC288.txt"
    f.write_text(
        "# a header line\n# units\n"
        "a b c d  12.5  -44.10  0.80 x\n"
        "a b c d 300.0  -10.00  2.50 y\n"
    )
    s = helpers.load_cluster_file(f)
    np.testing.assert_array_equal(s.distance, [12.5, 300.0])
    np.testing.assert_array_equal(s.velocity, [-44.1, -10.0])
    np.testing.assert_array_equal(s.velocity_error, [0.8, 2.5])
    assert np.isnan(s.ra).all() and s.cluster[0] == "NGC288"


@pytest.mark.parametrize(
    ("row", "match"),
    [("a b c d 12.5 -44.1", "line 3: 6 columns, need at least 7"),
     ("a b c d 12.5 -44.1 0.0", "line 3: velocity error 0.0"),
     ("a b c d 12.5 fast 1.0", "line 3: column 'column 5' holds 'fast'"),
     ("a b c d -1 -44.1 1.0", "line 3: distance -1.0")],
)
def test_per_cluster_file_errors(tmp_path, row, match):
    f = tmp_path / "c.txt"
    f.write_text(f"h1\nh2\n{row}\n")
    with pytest.raises(helpers.DataFormatError, match=match):
        helpers.load_cluster_file(f)


# ---------------------------------------------------------------- download and cache


def test_data_directory_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GMM_DATA_DIR", str(tmp_path))
    assert helpers.data_directory() == tmp_path
    monkeypatch.delenv("GMM_DATA_DIR")
    assert helpers.data_directory().name == "data"
    assert helpers.data_directory(tmp_path / "x") == tmp_path / "x"


def test_checksum_mismatch_is_an_error(tmp_path):
    (tmp_path / helpers.DATA_FILENAME).write_text("not the data\n")
    with pytest.raises(helpers.DataChecksumError, match="Delete it to download"):
        helpers.fetch_data(tmp_path)


def test_offline_without_cache_says_where_to_put_the_file(tmp_path):
    # port 9 on loopback refuses connections at once: no traffic leaves the machine
    with pytest.raises(helpers.DataUnavailableError) as err:
        helpers.fetch_data(tmp_path, url="http://127.0.0.1:9/table.txt")
    msg = str(err.value)
    assert str(tmp_path / helpers.DATA_FILENAME) in msg and "GMM_DATA_DIR" in msg
    assert "127.0.0.1:9" in msg


@contextlib.contextmanager
def serve(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_is_verified_and_cached(tmp_path):
    src, cache = tmp_path / "server", tmp_path / "cache"
    src.mkdir()
    content = "\n".join(table_lines(ROW_FULL)).encode()
    (src / "t.txt").write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    with serve(src) as base:
        path = helpers.fetch_data(cache, url=f"{base}/t.txt", sha256=digest)
    assert path == cache / helpers.DATA_FILENAME and path.read_bytes() == content
    # second call: no server needed, the cached file is verified and returned
    assert helpers.fetch_data(cache, url="http://127.0.0.1:9/x", sha256=digest) == path


def test_download_with_wrong_checksum_is_rejected(tmp_path):
    src = tmp_path / "server"
    src.mkdir()
    (src / "t.txt").write_text("tampered\n")
    with serve(src) as base, pytest.raises(helpers.DataChecksumError):
        helpers.fetch_data(tmp_path / "cache", url=f"{base}/t.txt", sha256="0" * 64)
    assert not (tmp_path / "cache" / helpers.DATA_FILENAME).exists()


def test_rows_with_trailing_blanks_stripped_still_parse():
    a = helpers.read_baumgardt_table(table_lines(ROW_BLANK, ROW_NO_EK)).stars
    b = helpers.read_baumgardt_table(table_lines(ROW_BLANK.rstrip(), ROW_NO_EK.rstrip())).stars
    assert len(ROW_BLANK.rstrip()) == 119
    assert a.tobytes() == b.tobytes()

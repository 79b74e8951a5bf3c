"""Settings: one table (config.OPTIONS) gives the environment variables, the flags and the
README's table; bad values are refused before anything starts, in one line, with exit code 2."""

from __future__ import annotations

import argparse
import os
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from lec_kg.cli import build_parser, flag_values, main
from lec_kg.config import (
    ALL_COMMANDS,
    OPTIONS,
    TOKEN_ENV,
    SettingError,
    Settings,
    automatic_query_workers,
    load_settings,
    settings_from_env,
    settings_table,
)
from tests.conftest import LEC_KG, ROOT

README = ROOT / "README.md"
TABLE_START = "<!-- settings table: generated from lec_kg.config.OPTIONS"
TABLE_END = "<!-- end of settings table -->"
# Flags that belong to one command's own work, not to a setting.
COMMAND_FLAGS = {  # command flags that are not settings
    "-h",
    "--help",
    "--format",
    "--output",
    "-o",
    "--check",
    "--message",
    "--source",
    "--url",
    "--graph",
    "--frame",
}


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser of each sub-command."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def flags_of(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def settings_for(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    """What the command line `lec-kg argv...` would run with, under `environ`."""
    return load_settings(environ or {}, flag_values(build_parser().parse_args(argv)))


def clean_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment without any LEC_KG_ setting, and a private data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEC_KG_")}
    return {**env, "XDG_DATA_HOME": str(tmp_path / "xdg")}


# ---------------------------------------------------------------- one table, no drift


def test_the_readme_table_is_the_spec_table() -> None:
    """The README's settings table is exactly what settings_table() writes from OPTIONS."""
    text = README.read_text(encoding="utf-8")
    assert text.count(TABLE_START) == 1 and text.count(TABLE_END) == 1
    block = text.split(TABLE_START, 1)[1].split("\n", 1)[1].split(TABLE_END, 1)[0]
    assert block == settings_table(), "regenerate the table with lec_kg.config.settings_table()"
    for option in OPTIONS:  # and each row names its variable and flag
        row = next(line for line in block.splitlines() if f"`{option.env}`" in line)
        assert option.flag is None or f"`{option.flag}" in row


def test_every_setting_has_a_variable_and_the_names_are_unique() -> None:
    """Each Settings field is in the table, with its own LEC_KG_ variable and flag."""
    names = [o.name for o in OPTIONS]
    envs = [o.env for o in OPTIONS]
    flags = [o.flag for o in OPTIONS if o.flag is not None]
    assert len(set(names)) == len(names)
    assert len(set(envs)) == len(envs) and all(e.startswith("LEC_KG_") for e in envs)
    assert len(set(flags)) == len(flags) and all(f.startswith("--") for f in flags)
    assert {f.name for f in fields(Settings)} <= set(names)


def test_the_flags_of_each_command_are_those_of_the_table() -> None:
    """Every command takes exactly the flags the table gives it (plus --format, -o, --graph)."""
    parser = build_parser()
    commands = subparsers(parser)
    assert set(commands) == set(ALL_COMMANDS)
    for name, sub in commands.items():
        wanted = {o.flag for o in OPTIONS if o.flag and name in o.commands}
        assert flags_of(sub) - COMMAND_FLAGS == wanted, name
    before = {o.flag for o in OPTIONS if o.flag and o.commands == ALL_COMMANDS}
    assert flags_of(parser) - COMMAND_FLAGS == before


def test_the_write_token_is_never_a_flag(capsys) -> None:
    """The token is read from the environment only; --write-token is not an option."""
    (token,) = [o for o in OPTIONS if o.name == "write_token"]
    assert token.env == TOKEN_ENV and token.flag is None
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["serve", "--write-token", "secret"])
    assert exit_.value.code == 2
    assert "--write-token" in capsys.readouterr().err
    assert load_settings({TOKEN_ENV: "s3cret"}).write_token == "s3cret"
    assert load_settings({TOKEN_ENV: ""}).write_token is None


# ---------------------------------------------------------------- reading good values


def test_the_existing_variables_keep_their_meaning() -> None:
    """The variables that existed before the table read as they did."""
    settings = load_settings(
        {
            "LEC_KG_BASE_IRI": "http://lec-kg.example/",
            "LEC_KG_RESULT_CACHE_MB": "0.5",
            "LEC_KG_PUBLIC_URL": "https://kg.example.org/lec-kg",
            "LEC_KG_QUERY_TIMEOUT": "3",
            "LEC_KG_WORKER_MEMORY_MB": "640",
        }
    )
    assert settings.base_iri == "http://lec-kg.example/"
    assert settings.result_cache_bytes == 2**19
    assert settings.public_url == "https://kg.example.org/lec-kg"
    assert settings.query_timeout_s == 3.0
    assert settings.worker_memory_mb == 640
    assert settings_from_env({}) == Settings()  # nothing set: the defaults


def test_the_existing_flags_keep_their_meaning(tmp_path) -> None:
    """serve's flags that existed before the table set what they set before."""
    data = tmp_path / "store"
    argv = ["--source-dir", str(tmp_path), "serve", "--host", "::1", "--port", "0"]
    argv += ["--port-file", str(tmp_path / "port"), "--data-dir", str(data), "--workers", "3"]
    argv += ["--result-cache-mb", "0", "--public-url", "https://kg.example.org"]
    settings = settings_for(argv)
    assert (settings.source_dir, settings.data_dir) == (tmp_path, data)
    assert (settings.host, settings.port, settings.port_file) == ("::1", 0, tmp_path / "port")
    assert (settings.workers, settings.result_cache_bytes) == (3, 0)
    assert settings.public_url == "https://kg.example.org"
    assert settings_for(["serve", "--data-dir", str(data), "--memory"]).data_dir is None
    assert settings_for(["export", "--memory"]).in_memory
    assert settings_for(["add", "f.ttl", "--data-dir", str(data)]).data_dir == data


def test_units_for_durations_and_sizes() -> None:
    """Durations take ms/s/min/h, sizes B/KB/MB/GB; without a unit, the setting's own."""
    settings = load_settings(
        {
            "LEC_KG_QUERY_TIMEOUT": "2min",
            "LEC_KG_QUERY_SLICE": "250ms",
            "LEC_KG_RETRY_AFTER": "1min",
            "LEC_KG_MAX_BODY": "2MB",
            "LEC_KG_WORKER_MEMORY_MB": "1GB",
            "LEC_KG_RESULT_CACHE_MB": "512KB",
        }
    )
    assert (settings.query_timeout_s, settings.query_slice_s) == (120.0, 0.25)
    assert settings.retry_after_s == 60 and isinstance(settings.retry_after_s, int)
    assert settings.max_body_bytes == 2 * 2**20
    assert (settings.worker_memory_mb, settings.result_cache_bytes) == (1024, 512 * 2**10)
    assert load_settings({"LEC_KG_MAX_BODY": "1000"}).max_body_bytes == 1000


def test_flags_override_the_environment(tmp_path) -> None:
    """A flag wins over its variable, and a bad variable a flag overrides is not read."""
    env = {"LEC_KG_QUERY_TIMEOUT": "5", "LEC_KG_PORT": "9000", "LEC_KG_WORKERS": "abc"}
    settings = settings_for(["serve", "--query-timeout", "7", "--workers", "2"], env)
    assert (settings.query_timeout_s, settings.port, settings.workers) == (7.0, 9000, 2)
    data = tmp_path / "store"
    # --memory and a data folder: the flag wins whichever way round.
    assert settings_for(["serve", "--memory"], {"LEC_KG_DATA_DIR": str(data)}).in_memory
    assert settings_for(["serve", "--data-dir", str(data)], {"LEC_KG_MEMORY": "1"}).data_dir == data
    assert settings_for(["serve"], {"LEC_KG_MEMORY": "yes"}).in_memory
    assert (
        settings_for(["serve"], {"LEC_KG_MEMORY": "off", "LEC_KG_DATA_DIR": str(data)}).data_dir
        == data
    )
    # Before or after the command name, the value given after it wins.
    assert settings_for(["--base-iri", "http://a.example/", "query", "ASK {}"]).base_iri == (
        "http://a.example/"
    )
    after = ["--base-iri", "http://a.example/", "query", "--base-iri", "http://b.example/", "x"]
    assert settings_for(after).base_iri == "http://b.example/"


def test_an_empty_variable_counts_as_unset() -> None:
    assert load_settings({"LEC_KG_QUERY_TIMEOUT": "", "LEC_KG_PORT": ""}) == Settings()


def test_query_workers_is_a_setting_of_its_own() -> None:
    """0 means automatic: max(2, cores) for one server process, cores // workers (at least 2)
    for several, so --workers does not multiply them; any other number is taken as it is."""
    assert [automatic_query_workers(1, cores) for cores in (1, 2, 8)] == [2, 2, 8]
    assert [automatic_query_workers(w, 8) for w in (2, 3, 4, 8)] == [4, 2, 2, 2]
    assert settings_for(["serve", "--query-workers", "3", "--workers", "4"]).query_processes == 3
    assert load_settings({"LEC_KG_QUERY_WORKERS": "5"}).query_workers == 5
    auto = load_settings({"LEC_KG_WORKERS": "2"})
    assert auto.query_workers == 0 and auto.query_processes == automatic_query_workers(2)


def test_settings_survive_the_trip_to_a_child_process(tmp_path) -> None:
    """to_json/from_json keep every field (paths as paths) except the token, which the child
    reads from its own environment."""
    values = {o.env: "" for o in OPTIONS}
    values |= {"LEC_KG_SOURCE_DIR": str(tmp_path), "LEC_KG_DATA_DIR": str(tmp_path / "d")}
    values |= {"LEC_KG_PORT_FILE": str(tmp_path / "p"), "LEC_KG_QUERY_WORKERS": "3"}
    values |= {"LEC_KG_PUBLIC_URL": "https://kg.example.org", TOKEN_ENV: "s3cret"}
    values |= {"LEC_KG_QUERY_SLICE": "0.2", "LEC_KG_MAX_BODY": "5KB"}
    settings = load_settings(values)
    text = settings.to_json()
    assert "s3cret" not in text
    back = Settings.from_json(text, environ={TOKEN_ENV: "s3cret"})
    assert back == settings and isinstance(back.port_file, Path)
    assert Settings.from_json(text, environ={}).write_token is None


# ---------------------------------------------------------------- refusing bad values

BAD = [
    ("LEC_KG_QUERY_TIMEOUT", "abc", "a number of seconds above 0"),  # not a number
    ("LEC_KG_QUERY_TIMEOUT", "-1", "a number of seconds above 0"),  # negative
    ("LEC_KG_QUERY_TIMEOUT", "0", "above 0"),  # zero where it must be above
    ("LEC_KG_QUERY_TIMEOUT", "nan", "a number of seconds"),
    ("LEC_KG_QUERY_SLICE", "5 fortnights", "unknown unit 'fortnights'"),  # unknown unit
    ("LEC_KG_RESULT_CACHE_MB", "12 TB", "unknown unit 'TB'"),
    ("LEC_KG_RESULT_CACHE_MB", "-5", "a size in MiB"),
    ("LEC_KG_MAX_BODY", "0", "from 1 to"),  # out of bounds
    ("LEC_KG_PORT", "70000", "a whole number from 0 to 65535"),
    ("LEC_KG_PORT", "80.5", "a whole number from 0 to 65535"),
    ("LEC_KG_WORKERS", "0", "a whole number from 1 to"),
    ("LEC_KG_QUERY_WORKERS", "-2", "a whole number from 0 to"),
    ("LEC_KG_RETRY_AFTER", "1.5", "a whole number of seconds"),
    ("LEC_KG_WORKER_MEMORY_MB", "lots", "a size in MiB"),
    ("LEC_KG_MEMORY", "perhaps", "expected 1, true, yes or on"),
    ("LEC_KG_PUBLIC_URL", "kg.example.org", "absolute http:// or https:// URL"),  # not absolute
    ("LEC_KG_PUBLIC_URL", "ftp://kg.example.org", "absolute http:// or https:// URL"),
    ("LEC_KG_PUBLIC_URL", "https://kg.example.org/?a=1", "no query or fragment"),
    ("LEC_KG_BASE_IRI", "https://kg.example.org/ns", "IRI ending in '/'"),
    ("LEC_KG_BASE_IRI", "urn:lec-kg:", "absolute http:// or https:// IRI"),
    ("LEC_KG_HOST", "local host", "a host name or IP address"),
]


@pytest.mark.parametrize(("env", "value", "expected"), BAD)
def test_a_bad_variable_is_refused_in_one_line(env, value, expected) -> None:
    """The message names the variable, the value and what is expected, on one line."""
    with pytest.raises(SettingError) as refused:
        load_settings({env: value})
    message = str(refused.value)
    assert message.startswith(f"{env}={value!r}: ") and expected in message
    assert "expected" in message and "\n" not in message


def test_a_data_dir_that_is_a_file_is_refused(tmp_path) -> None:
    """A store folder cannot be a file, whether named by the variable or the flag."""
    a_file = tmp_path / "store"
    a_file.write_text("not a folder")
    for environ, argv, where in [
        ({"LEC_KG_DATA_DIR": str(a_file)}, ["serve"], "LEC_KG_DATA_DIR"),
        ({}, ["export", "--data-dir", str(a_file)], "--data-dir"),
        ({}, ["serve", "--port-file", str(tmp_path)], "--port-file"),  # a folder, not a file
    ]:
        with pytest.raises(SettingError) as refused:
            settings_for(argv, environ)
        assert str(refused.value).startswith(f"{where}=") and "expected" in str(refused.value)
    assert settings_for(["serve", "--data-dir", str(tmp_path / "new")]).data_dir == tmp_path / "new"


@pytest.mark.parametrize(
    ("argv", "where"),
    [
        (["serve", "--port", "http"], "--port='http'"),
        (["serve", "--query-timeout", "30 parsecs"], "--query-timeout='30 parsecs'"),
        (["add", "x.ttl", "--max-update-quads", "-1"], "--max-update-quads='-1'"),
    ],
)
def test_a_bad_flag_exits_2_in_one_line(argv, where, capsys, monkeypatch) -> None:
    """In process: main returns 2 and prints one line naming the flag and the value."""
    for name in [k for k in os.environ if k.startswith("LEC_KG_")]:
        monkeypatch.delenv(name)
    assert main(["--source-dir", str(ROOT), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"lec-kg {argv[0]}: not starting: {where}: ") and "expected" in err


def test_a_bad_variable_stops_the_real_command(tmp_path) -> None:
    """`LEC_KG_QUERY_TIMEOUT=abc lec-kg query ...` exits 2 with one line, no traceback."""
    env = clean_env(tmp_path) | {"LEC_KG_QUERY_TIMEOUT": "abc"}
    done = subprocess.run(
        [str(LEC_KG), "--source-dir", str(ROOT), "query", "ASK {}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "lec-kg query: not starting: LEC_KG_QUERY_TIMEOUT='abc': expected a number of seconds "
        "above 0, at most 86400 (or with a unit: 2.5s, 500ms, 2min, 1h)"
    ]


def test_serve_refuses_a_data_dir_that_is_a_file_before_loading(tmp_path) -> None:
    """`lec-kg serve --data-dir FILE` exits 2 naming the flag, before loading anything."""
    a_file = tmp_path / "store"
    a_file.write_text("not a folder")
    port_file = tmp_path / "port"
    argv = ["serve", "--data-dir", str(a_file), "--port", "0", "--port-file", str(port_file)]
    done = subprocess.run(
        [str(LEC_KG), "--source-dir", str(ROOT), *argv],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"lec-kg serve: not starting: --data-dir={str(a_file)!r}: expected ")
    assert "Traceback" not in done.stderr and not port_file.exists()
    assert a_file.read_text() == "not a folder"  # changed nothing

"""The README's fresh-machine test command is the one CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.+?)\n```", readme, re.S)
    test_command = next(b for b in blocks if "pytest" in b)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_the_readme_says_what_each_procfile_process_runs():
    readme = (ROOT / "README.md").read_text()
    deploying = readme.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, command = (part.strip() for part in line.split(":", 1))
        assert f"`{name}`" in deploying, name
        if not command.startswith("gunicorn"):  # the web line is described in words
            assert f"`{command}`" in " ".join(deploying.split()), command

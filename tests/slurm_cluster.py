"""A real one-node SLURM cluster on this machine, for the test of profiles/slurm.

Private to the test: its own munge daemon (own key and socket), slurm.conf, state directories and free ports, so
that it neither needs nor disturbs a system munge. Daemons run as root in the foreground as children of the test,
which stops them. One system path is used: /run/slurm/conf, where SLURM clients look when SLURM_CONF is unset, as
it is for the srun inside each job (snakemake's jobstep executor clears SLURM_* variables before calling srun).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "srun", "sinfo", "scancel")
# Where SLURM clients look for the configuration when SLURM_CONF is unset and /etc/slurm has none.
RUN_CONF = Path("/run/slurm/conf")


class SlurmUnavailable(Exception):
    """SLURM cannot be started here; the message says why (the test skips with it)."""


def missing_requirements() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting SLURM's daemons needs root"
    if Path("/etc/slurm/slurm.conf").exists():
        return "this machine has its own SLURM configuration (/etc/slurm/slurm.conf), which jobs would use"
    if RUN_CONF.exists():  # a live link is another test cluster's, running now; a dead one is replaced
        return f"{RUN_CONF} is in use (another SLURM installation, or this test running elsewhere on the machine)"
    absent = [name for name in DAEMONS + CLIENTS if _find(name) is None]
    if absent:
        return f"needs Debian's slurmctld, slurmd, slurm-client and munge (missing: {', '.join(absent)})"
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "needs the munge user (Debian's munge package creates it)"
    return None


def _find(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(condition, seconds: float, what: str, logs: list[Path]):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}:\n{log.read_text()[-1500:]}" for log in logs if log.exists())
    raise SlurmUnavailable(f"{what} within {seconds:.0f} s\n{tails}")


def slurm_conf(root: Path, host: str, ctld_port: int, slurmd_port: int, munge_socket: Path) -> str:
    return f"""\
ClusterName=grokrepro-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
# The node's declared size, not the machine's, so that the test runs the same on any machine.
SlurmdParameters=config_overrides
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
# No cgroups in a container: track processes through /proc and bind no tasks to cores.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No accounting storage (no slurmdbd): status comes from squeue, so finished jobs must stay listed a while.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=6000 State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _daemon(command: list[str], env: dict, output: Path, logs: list[Path]) -> subprocess.Popen:
    logs.append(output)
    with open(output, "wb") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _alive(daemons: list[subprocess.Popen], logs: list[Path]) -> bool:
    for daemon in daemons:
        if daemon.poll() is not None:
            tails = "\n".join(f"--- {log.name}:\n{log.read_text()[-1500:]}" for log in logs if log.exists())
            raise SlurmUnavailable(f"{daemon.args[0]} exited with {daemon.returncode}\n{tails}")
    return True


def _answers(command: list[str], env: dict, expected: str) -> bool:
    shown = subprocess.run([_find(command[0]), *command[1:]], env=env, capture_output=True, text=True)
    return expected in shown.stdout


@contextmanager
def one_node_cluster():
    """Yields the environment (SLURM_CONF set) in which sbatch, squeue and snakemake reach the cluster."""
    reason = missing_requirements()
    if reason:
        raise SlurmUnavailable(reason)
    # Not under pytest's tmp_path: munged runs as the munge user and must reach its directory.
    root = Path(tempfile.mkdtemp(prefix="grokrepro-slurm-"))
    root.chmod(0o755)
    munge_dir = root / "munge"
    munge_dir.mkdir()
    munge_dir.chmod(0o755)  # munged wants its socket directory searchable by all (the key stays 0400)
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    munge_user = pwd.getpwnam("munge")
    for path in (munge_dir, key):
        os.chown(path, munge_user.pw_uid, munge_user.pw_gid)
    for name in ("state", "spool", "conf"):
        (root / name).mkdir()

    host = socket.gethostname().split(".")[0]
    ctld_port, slurmd_port = _free_port(), _free_port()
    munge_socket = munge_dir / "munge.socket"
    conf = root / "conf" / "slurm.conf"
    conf.write_text(slurm_conf(root, host, ctld_port, slurmd_port, munge_socket))
    env = dict(os.environ, SLURM_CONF=str(conf))
    logs = [root / "slurmctld.log", root / "slurmd.log", munge_dir / "munged.log"]

    daemons: list[subprocess.Popen] = []
    try:
        # munged refuses to run as root; as the munge user it is still this test's child, so it stops with it.
        daemons.append(subprocess.Popen(
            [_find("munged"), "--foreground", f"--socket={munge_socket}", f"--key-file={key}",
             f"--pid-file={munge_dir}/munged.pid", f"--log-file={munge_dir}/munged.log",
             f"--seed-file={munge_dir}/munged.seed"],
            user=munge_user.pw_uid, group=munge_user.pw_gid, extra_groups=[],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait(munge_socket.exists, 20, "munged did not open its socket", logs)
        daemons.append(_daemon([_find("slurmctld"), "-D", "-f", str(conf)], env, root / "slurmctld.out", logs))
        _wait(lambda: _alive(daemons, logs) and _answers(["scontrol", "ping"], env, "UP"), 60,
              "slurmctld did not answer", logs)
        daemons.append(_daemon([_find("slurmd"), "-D", "-N", host, "-f", str(conf)], env, root / "slurmd.out", logs))
        RUN_CONF.parent.mkdir(parents=True, exist_ok=True)
        RUN_CONF.unlink(missing_ok=True)  # a dead symlink (checked above), left by a cluster that was killed
        RUN_CONF.symlink_to(conf.parent)
        _wait(lambda: _alive(daemons, logs) and _answers(["sinfo", "-h", "-o", "%t"], env, "idle"), 60,
              "the node did not come up idle", logs)
        yield env
    finally:
        if daemons:
            subprocess.run([_find("scancel"), "--user=root"], env=env, capture_output=True)
        for daemon in reversed(daemons):
            daemon.terminate()
        for daemon in reversed(daemons):
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        if RUN_CONF.is_symlink() and RUN_CONF.readlink() == conf.parent:
            RUN_CONF.unlink()
        shutil.rmtree(root, ignore_errors=True)

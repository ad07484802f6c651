/**
 * A real single-node Slurm cluster for tests: munged, slurmctld and slurmd (Debian's slurm-wlm and munge) started
 * on this machine with their own config, key, sockets, ports and state in a temp folder, and stopped afterwards.
 * Clients (sbatch, squeue, scontrol) reach it through SLURM_CONF in `env`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface SlurmCluster {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Runs a Slurm client command against this cluster. */
  client(command: string, args: string[]): string;
  stop(): void;
}

/** Why a cluster cannot be started here (missing binaries, not root), or null. */
export function slurmUnavailable(): string | null {
  for (const bin of ['munged', 'slurmctld', 'slurmd', 'sbatch', 'scontrol', 'squeue']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      return `${bin} is not installed (Debian: apt-get install slurm-wlm munge; .ci/run installs them)`;
    }
  }
  if (process.getuid?.() !== 0) return 'starting slurmd needs root';
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s:\n${log()}`);
}

export async function startSlurmCluster(options: { cpus: number }): Promise<SlurmCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-slurm-'));
  for (const sub of ['state', 'spool', 'munge']) fs.mkdirSync(path.join(dir, sub));
  fs.chmodSync(path.join(dir, 'munge'), 0o700);
  const host = os.hostname();
  const key = path.join(dir, 'munge', 'munge.key');
  fs.writeFileSync(key, crypto.randomBytes(1024), { mode: 0o400 });
  const socket = path.join(dir, 'munge', 'munge.socket');
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  const memoryMb = Math.floor(os.totalmem() / 2 ** 20 / 2);
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(conf, [
    'ClusterName=kdcltest',
    `SlurmctldHost=${host}`,
    'SlurmUser=root',
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    'AuthType=auth/munge',
    `AuthInfo=socket=${socket}`,
    'CredType=cred/munge',
    `StateSaveLocation=${path.join(dir, 'state')}`,
    `SlurmdSpoolDir=${path.join(dir, 'spool')}`,
    `SlurmctldPidFile=${path.join(dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${path.join(dir, 'slurmd.pid')}`,
    `SlurmctldLogFile=${path.join(dir, 'slurmctld.log')}`,
    `SlurmdLogFile=${path.join(dir, 'slurmd.log')}`,
    // No cgroups (a container's may be read-only): processes are tracked by parentage.
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'SchedulerType=sched/backfill',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_CPU',
    'ReturnToService=2',
    'MpiDefault=none',
    'SlurmdTimeout=30',
    'InactiveLimit=0',
    'KillWait=5',
    'MinJobAge=300',
    `NodeName=${host} CPUs=${options.cpus} RealMemory=${memoryMb} State=UNKNOWN`,
    'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
    '',
  ].join('\n'));
  const env = { ...process.env, SLURM_CONF: conf };
  const children: ChildProcess[] = [];
  const daemon = (bin: string, args: string[]) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, `${path.basename(bin)}.stderr`), 'a')] });
    children.push(child);
    return child;
  };
  const logs = () => ['slurmctld.log', 'slurmd.log', 'munged.log', 'munged.stderr', 'slurmctld.stderr', 'slurmd.stderr']
    .map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f)).map((f) => `--- ${f}\n${fs.readFileSync(f, 'utf8').slice(-2000)}`).join('\n');
  const client = (command: string, args: string[]) => execFileSync(command, args, { env, encoding: 'utf8' });
  const cluster: SlurmCluster = {
    dir, env, client,
    stop() {
      try {
        client('scancel', ['--full', '--quiet', '--user=root']);
      } catch {
        // nothing to cancel, or the controller is already down
      }
      for (const child of children.reverse()) child.kill('SIGTERM');
    },
  };
  try {
    daemon('munged', ['--foreground', '--force', `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${path.join(dir, 'munged.pid')}`,
      `--log-file=${path.join(dir, 'munged.log')}`, `--seed-file=${path.join(dir, 'munge', 'seed')}`]);
    await waitFor('munged', () => fs.existsSync(socket), 15_000, logs);
    daemon('slurmctld', ['-D', '-i', '-f', conf]);
    await waitFor('slurmctld', () => {
      try {
        client('scontrol', ['ping']);
        return true;
      } catch {
        return false;
      }
    }, 30_000, logs);
    daemon('slurmd', ['-D', '-f', conf, '-N', host]);
    await waitFor('slurmd (node idle)', () => {
      try {
        return /idle/.test(client('sinfo', ['-h', '-o', '%T']));
      } catch {
        return false;
      }
    }, 60_000, logs);
  } catch (err) {
    cluster.stop();
    throw err;
  }
  return cluster;
}

/**
 * What `hmmlab init --ci` writes: a GitHub Actions workflow that fuzzes the shards of one campaign
 * as a matrix, merges their results and keeps counterexamples as artifacts, and a Kubernetes
 * Indexed Job that runs the same shards, its completion index naming the shard.
 */

/** The settings the files are written with. */
export interface CiSettings {
  /** Shards of the campaign (matrix jobs, Job completions). */
  readonly shards: number;
  /** Runs of the whole campaign. */
  readonly runs: number;
  /** What `hmmlab fuzz` is given: driver files or folders, relative to the repository root. */
  readonly drivers: string;
}

/** Where the files go, relative to the repository root. */
export const CI_FILES = {
  workflow: '.github/workflows/hmmlab-fuzz.yml',
  job: 'k8s/hmmlab-fuzz-job.yaml',
} as const;

/** A word safe inside a shell command and a YAML plain scalar (else single-quoted for the shell). */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/** The GitHub Actions workflow. */
export function githubWorkflow(s: CiSettings): string {
  const shards = Array.from({ length: s.shards }, (_x, i) => i + 1).join(', ');
  const drivers = shellWord(s.drivers);
  return `# Fuzzes the drivers of this repository with hmmlab: the campaign's ${s.runs} runs in ${s.shards} shards
# (a matrix), joined by \`hmmlab merge\`. Written by \`hmmlab init --ci\`; see hmmlab's guide,
# "Scaling out: shards, merge, CI".
#
# - Pull requests and pushes fuzz seed 1, so a result is the same on every run; the nightly
#   schedule fuzzes a new seed each night (the run number); a manual run takes a seed.
# - A shard that finds a violation exits 1 but keeps its result; the merge job decides.
# - Counterexamples: each shard uploads the tokens it found (.hmmlab/corpus/*/counterexamples/),
#   the merge job the merged result. Commit the counterexample files to .hmmlab/corpus/ and the
#   regressions job replays them on every change: a fixed race stays fixed.
name: hmmlab fuzz

on:
  pull_request:
  push:
    branches: [main]
  schedule:
    - cron: '17 3 * * *'
  workflow_dispatch:
    inputs:
      seed:
        description: campaign seed
        required: false
        default: '1'

permissions:
  contents: read

env:
  RUNS: '${s.runs}'
  SHARDS: '${s.shards}'
  SEED: \${{ github.event_name == 'schedule' && github.run_number || inputs.seed || '1' }}

jobs:
  regressions:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
          cache: npm
      - run: npm ci
      - name: replay every saved counterexample
        run: |
          if [ -d .hmmlab/corpus ]; then
            npx hmmlab test --corpus .hmmlab/corpus
          else
            echo "no .hmmlab/corpus: no saved counterexample to replay"
          fi

  shard:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        shard: [${shards}]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
          cache: npm
      - run: npm ci
      - name: fuzz shard \${{ matrix.shard }} of \${{ env.SHARDS }}
        # Exit 1 (a violation) is a result for the merge job; anything else fails the shard.
        run: |
          status=0
          npx hmmlab fuzz ${drivers} --runs "$RUNS" --seed "$SEED" --shard "\${{ matrix.shard }}/$SHARDS" --json > "shard-\${{ matrix.shard }}.json" || status=$?
          test "$status" -le 1
      - uses: actions/upload-artifact@v4
        with:
          name: shard-\${{ matrix.shard }}
          path: shard-\${{ matrix.shard }}.json
      - uses: actions/upload-artifact@v4
        with:
          name: counterexamples-\${{ matrix.shard }}
          path: .hmmlab/corpus/*/counterexamples/
          if-no-files-found: ignore

  merge:
    needs: shard
    if: \${{ !cancelled() }}
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
          cache: npm
      - run: npm ci
      - uses: actions/download-artifact@v4
        with:
          pattern: shard-*
          path: shards
          merge-multiple: true
      - name: merge the shards (exit 1 on a violation)
        run: npx hmmlab merge shards/shard-*.json --out merged.json
      - uses: actions/upload-artifact@v4
        if: \${{ always() }}
        with:
          name: merged
          path: merged.json
`;
}

/** The Kubernetes Indexed Job. */
export function kubernetesJob(s: CiSettings): string {
  const drivers = shellWord(s.drivers);
  return `# The shards of one hmmlab campaign as a Kubernetes Indexed Job: pod i (JOB_COMPLETION_INDEX,
# from 0) fuzzes shard i+1 of ${s.shards} and writes its result to the shared volume. Written by
# \`hmmlab init --ci\`; see hmmlab's guide, "Scaling out: shards, merge, CI".
#
#   kubectl apply -f ${CI_FILES.job}
#   kubectl wait --for=condition=complete --timeout=24h job/hmmlab-fuzz
#   # then, from a pod that mounts the same volume, in the repository:
#   npx hmmlab merge /results/shard-*.json --out /results/merged.json
#
# The image is one of this repository with its node_modules installed (npm ci); the volume
# claim hmmlab-results must allow many writers (ReadWriteMany) when pods land on several nodes.
apiVersion: batch/v1
kind: Job
metadata:
  name: hmmlab-fuzz
spec:
  completionMode: Indexed
  completions: ${s.shards}
  parallelism: ${s.shards}
  backoffLimitPerIndex: 1
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: fuzz
          image: registry.example.com/my-drivers:latest
          workingDir: /repo
          env:
            - name: SEED
              value: '1'
            - name: RUNS
              value: '${s.runs}'
          command: ['sh', '-c']
          # Exit 1 (a violation) is a result for the merge; anything else fails the pod.
          args:
            - >-
              shard=$((JOB_COMPLETION_INDEX + 1));
              status=0;
              npx hmmlab fuzz ${drivers} --runs "$RUNS" --seed "$SEED" --shard "$shard/${s.shards}" --json
              > "/results/shard-$shard.json" || status=$?;
              cp -r .hmmlab/corpus "/results/corpus-$shard" 2>/dev/null;
              test "$status" -le 1
          volumeMounts:
            - name: results
              mountPath: /results
      volumes:
        - name: results
          persistentVolumeClaim:
            claimName: hmmlab-results
`;
}

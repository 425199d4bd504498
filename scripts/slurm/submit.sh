#!/usr/bin/env bash
# Submit one profile's jobs to Slurm: the train array, then the analysis array after it.
#
#   scripts/slurm/submit.sh PROFILE [DATA] [SBATCH_OPTION...]
#
# SBATCH_OPTIONs (anything starting with "-") go to both sbatch calls; stage-only options go in
# $AUDIOMNIST_SBATCH_TRAIN / $AUDIOMNIST_SBATCH_ANALYSIS (split on spaces), e.g.
#   AUDIOMNIST_SBATCH_TRAIN="--partition=gpu --gres=gpu:1" scripts/slurm/submit.sh paper real
# Later options win over earlier ones and over the #SBATCH defaults in job.sbatch.
# Prints one line per submitted stage: "<stage> <job id> array=<range>".
set -euo pipefail

me=submit.sh
usage="usage: scripts/slurm/submit.sh PROFILE [DATA] [SBATCH_OPTION...]"
die() { echo "$me: $*" >&2; exit "${code:-1}"; }

[[ $# -ge 1 && $1 != -* ]] || { echo "$usage" >&2; exit 2; }
profile=$1; shift
data=
if [[ $# -ge 1 && $1 != -* ]]; then data=$1; shift; fi
sbatch_opts=("$@")
for opt in "${sbatch_opts[@]+"${sbatch_opts[@]}"}"; do
    [[ $opt == -* ]] || { echo "$me: unexpected argument '$opt' (sbatch options start with -)" >&2; echo "$usage" >&2; exit 2; }
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
if [[ -x .venv/bin/audiomnist ]]; then
    audiomnist=$repo/.venv/bin/audiomnist
elif command -v audiomnist >/dev/null 2>&1; then
    audiomnist=$(command -v audiomnist)
else
    code=127 die "audiomnist not found (neither $repo/.venv/bin/audiomnist nor on PATH); install the package first (make install)"
fi
command -v sbatch >/dev/null 2>&1 || code=127 die "sbatch not found on PATH; run this on a Slurm login node (or load the Slurm module)"

# The jobs write to the same runs folder as the library: $AUDIOMNIST_RUNS, else <repo>/runs.
# A relative $AUDIOMNIST_RUNS is made absolute here, so that every job resolves it alike.
if [[ -n ${AUDIOMNIST_RUNS:-} ]]; then
    mkdir -p "$AUDIOMNIST_RUNS"
    AUDIOMNIST_RUNS=$(cd "$AUDIOMNIST_RUNS" && pwd)
    export AUDIOMNIST_RUNS
    runs=$AUDIOMNIST_RUNS
else
    runs=$repo/runs
fi
mkdir -p "$runs/slurm"

jobs_args=(jobs --profile "$profile" --json)
[[ -n $data ]] && jobs_args+=(--data "$data")
listing=$("$audiomnist" "${jobs_args[@]}") || die "'audiomnist ${jobs_args[*]}' failed"

# "data|train range|analysis range" (a range is empty where the stage has no jobs).
parsed=$(python3 -c '
import json, sys
try:
    d = json.loads(sys.stdin.read())
    arrays = d.get("arrays") or {}
    print("|".join(str(v or "") for v in (d.get("data"), arrays.get("train"), arrays.get("analysis"))))
except Exception as e:
    sys.exit(f"cannot read the jobs listing: {e}")
' <<<"$listing") || die "'audiomnist ${jobs_args[*]}' did not print the expected JSON"
IFS='|' read -r listed_data train_range analysis_range <<<"$parsed"
[[ -z $data ]] && data=$listed_data

job_args=("$profile")
[[ -n $data ]] && job_args+=("$data")
label=$profile${data:+-$data}

if [[ -z $train_range && -z $analysis_range ]]; then
    echo "$me: profile $profile has no jobs; nothing submitted" >&2
    exit 0
fi

submit() {  # stage range [extra sbatch options...] -> prints the job id
    local stage=$1 range=$2; shift 2
    local stage_env
    [[ $stage == train ]] && stage_env=${AUDIOMNIST_SBATCH_TRAIN:-} || stage_env=${AUDIOMNIST_SBATCH_ANALYSIS:-}
    local -a stage_opts=()
    [[ -n $stage_env ]] && read -r -a stage_opts <<<"$stage_env"
    local out
    out=$(sbatch --parsable --array="$range" --chdir="$repo" \
        --job-name="audiomnist-$stage-$label" --output="$runs/slurm/%A_%a.out" \
        "$@" "${sbatch_opts[@]+"${sbatch_opts[@]}"}" "${stage_opts[@]+"${stage_opts[@]}"}" \
        scripts/slurm/job.sbatch "${job_args[@]}") || die "sbatch of the $stage array ($range) failed"
    out=${out%%;*}            # --parsable prints "id" or "id;cluster"
    [[ $out =~ ^[0-9]+$ ]] || die "sbatch printed '$out', not a job id"
    echo "$out"
}

train_id=
if [[ -n $train_range ]]; then
    train_id=$(submit train "$train_range")
    echo "train $train_id array=$train_range"
fi
if [[ -n $analysis_range ]]; then
    if [[ -n $train_id ]]; then
        analysis_id=$(submit analysis "$analysis_range" --dependency="afterok:$train_id")
    else
        analysis_id=$(submit analysis "$analysis_range")
    fi
    echo "analysis $analysis_id array=$analysis_range${train_id:+ after=$train_id}"
fi

#!/bin/bash
# Run the whole sdssflow workflow inside ONE node allocation (NERSC's recommended way to
# use Snakemake: one scheduler job, Snakemake schedules the work on the node's cores).
#
#   module load python; conda activate sdssflow      # or: source .venv/bin/activate
#   cd /path/to/sdssflow                               # jobs start in the submit directory
#   sbatch -A m1234 profiles/nersc/sbatch_single_node.sh --configfile my_survey.yaml
#
# Extra arguments go to snakemake. The directives below are Perlmutter's; override any of
# them on the sbatch command line (e.g. `sbatch -q debug -t 00:30:00 ...`). A run that hits
# its time limit resumes where it stopped when you submit the same command again
# (--rerun-incomplete below redoes the jobs that were cut).
#SBATCH --job-name=sdssflow
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --exclusive
#SBATCH --constraint=cpu
#SBATCH --qos=regular
#SBATCH --time=12:00:00
#SBATCH --output=sdssflow-%j.out
set -euo pipefail

cd "${SLURM_SUBMIT_DIR:-$PWD}"

# Cores and memory come from the allocation, never from a hard-coded number.
CORES=${SLURM_CPUS_ON_NODE:-$(nproc)}
if [ -n "${SLURM_MEM_PER_NODE:-}" ]; then
    MEM_MB=$SLURM_MEM_PER_NODE
else
    # --exclusive without --mem: the node's memory, less 10% for the OS and Snakemake.
    MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
fi
echo "sdssflow: job ${SLURM_JOB_ID:-none} on $(hostname): ${CORES} cores, ${MEM_MB} MB"

# Local executor inside the allocation (profiles/default applies); Snakemake keeps the sum
# of the running jobs' threads <= cores and their mem_mb <= MEM_MB.
exec snakemake \
    --cores "$CORES" \
    --resources mem_mb="$MEM_MB" \
    --rerun-incomplete \
    --keep-going \
    "$@"

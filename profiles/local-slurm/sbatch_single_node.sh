#!/bin/bash
# One-allocation run on a local Slurm cluster (same as profiles/nersc/sbatch_single_node.sh
# without Perlmutter's QOS and constraint):
#   sbatch -p debug profiles/local-slurm/sbatch_single_node.sh --configfile my.yaml
#SBATCH --job-name=sdssflow
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=sdssflow-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
CORES=${SLURM_CPUS_ON_NODE:-$(nproc)}
if [ -n "${SLURM_MEM_PER_NODE:-}" ]; then
    MEM_MB=$SLURM_MEM_PER_NODE
else
    MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
fi
echo "sdssflow: job ${SLURM_JOB_ID:-none} on $(hostname): ${CORES} cores, ${MEM_MB} MB"
exec snakemake --cores "$CORES" --resources mem_mb="$MEM_MB" --rerun-incomplete --keep-going "$@"

# GPU backend build rules (TASKREL_CUDA=ON). Owned by the GPU backend work.

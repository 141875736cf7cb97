"""The task command of Kubeflow specs compiled before the entrypoint moved to
pipeline/kfp_entrypoint.py (`python -m fairgate.kfp_entrypoint`): such a spec,
run with a newer image, still starts its tasks."""
from pipeline.kfp_entrypoint import main, repaired_argv, with_input_types  # noqa: F401

if __name__ == "__main__":
    main()

# Payload for run-vm.sh: the noderun-cgroups v2 checks (binary: cgcheck).
cgcheck

"""The on-device cluster agent `aos-cluster`, shipped by the layer as one file
(recipes-support/aos-cluster-agent/files/aos-cluster) from aos_cluster.py."""

#!/usr/bin/env bash
# Writes the two ketama tables with the libraries themselves:
#
#   ketama-md5.tsv     Debian's libspymemcached-java (spymemcached 2.12.3):
#                      KetamaNodeLocator over MD5, as upstream spymemcached
#                      and the AWS ElastiCache Cluster Client for Java up to
#                      1.1.x place keys.
#   ketama-sha384.tsv  the AWS ElastiCache Cluster Client for Java's own
#                      KetamaNodeLocator, DefaultHashAlgorithm,
#                      KetamaNodeKeyFormatter and locator configuration at
#                      AWS_CLIENT_DIR (a checkout of
#                      github.com/awslabs/aws-elasticache-cluster-client-memcached-for-java,
#                      tag 1.2.4 = 580bca69), compiled over the same jar:
#                      since 1.2.0 (commit 5fac5b33, May 2022) it hashes with
#                      SHA-384 where spymemcached used MD5.
#
#   apt-get install -y libspymemcached-java default-jdk-headless
#   AWS_CLIENT_DIR=/path/to/checkout bash gen_ketama.sh
set -euo pipefail
cd "$(dirname "$0")"
jar=/usr/share/java/spymemcached.jar
aws=${AWS_CLIENT_DIR:?set AWS_CLIENT_DIR to a checkout of aws-elasticache-cluster-client-memcached-for-java}
spy_version=$(dpkg-query -W -f '${Version}' libspymemcached-java)
aws_version=$(git -C "$aws" describe --tags --always)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

javac -d "$work/gen" -cp "$jar" GenKetama.java
java -cp "$work/gen:$jar" GenKetama \
	"spymemcached (Debian libspymemcached-java $spy_version) KetamaNodeLocator, KETAMA_HASH = MD5" >ketama-md5.tsv

src=$aws/src/main/java/net/spy/memcached
javac -d "$work/aws" -cp "$jar" -nowarn \
	"$src/KetamaNodeLocator.java" "$src/DefaultHashAlgorithm.java" \
	"$src/KetamaNodeKeyFormatter.java" "$src/util/DefaultKetamaNodeLocatorConfiguration.java"
java -cp "$work/aws:$work/gen:$jar" GenKetama \
	"the AWS ElastiCache Cluster Client for Java $aws_version KetamaNodeLocator, KETAMA_HASH = SHA-384" >ketama-sha384.tsv

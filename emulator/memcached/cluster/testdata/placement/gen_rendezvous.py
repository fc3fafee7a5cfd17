#!/usr/bin/python3
"""Writes rendezvous.tsv: where pymemcache's HashClient places each key of
keys.txt on each node set of cases.txt.

It asks HashClient itself (RendezvousHash over murmur3_32, node key
"host:port" from HashClient._make_client_key), so the table is pymemcache's
answer, not a re-implementation's. HashClient connects lazily: nothing is
dialled. A node with an empty host is given as (ip, port), as the AWS Lambda
ElastiCache tutorial passes discovered nodes; a named one as (host, port).

    apt-get install -y python3-pymemcache      # Debian 12: 3.5.2-1
    /usr/bin/python3 gen_rendezvous.py > rendezvous.tsv
"""
import datetime
import pymemcache
from pymemcache.client.hash import HashClient


def read_cases(path):
    cases = []
    for line in open(path):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        name, nodes = line.split("\t")
        cases.append((name, [tuple(n.split("|")) for n in nodes.split(" ")]))
    return cases


def main():
    cases = read_cases("cases.txt")
    keys = [k.rstrip("\n") for k in open("keys.txt")]
    clients = []
    for _, nodes in cases:
        servers = [(host or ip, int(port)) for host, ip, port in nodes]
        clients.append((servers, HashClient(servers)))
    print("# Key placement of pymemcache %s HashClient (RendezvousHash, murmur3_32)," % pymemcache.__version__)
    print("# computed by gen_rendezvous.py with Debian python3-pymemcache on %s." % datetime.date.today())
    print("# A case line names the nodes (index 0, 1, ...); each key row gives, per case,")
    print("# the index of the node HashClient picks.")
    for (name, _), (servers, _) in zip(cases, clients):
        print("case\t%s\t%s" % (name, " ".join("%s:%d" % s for s in servers)))
    for key in keys:
        row = [key]
        for servers, client in clients:
            row.append(str(servers.index(client._get_client(key).server)))
        print("\t".join(row))


main()

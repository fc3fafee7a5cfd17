// Writes a ketama placement table: where spymemcached's KetamaNodeLocator
// (KETAMA_HASH, the default SPYMEMCACHED node key format, 160 points per
// node) places each key of keys.txt on each node set of cases.txt. The
// locator on the class path answers, so the table is that library's answer,
// not a re-implementation's; gen_ketama.sh runs it against two libraries.
//
// A node with an empty host gets the address the AWS ElastiCache Cluster
// Client gives a discovered node with an IP, new InetSocketAddress(
// InetAddress.getByName(ip), port) (config.NodeEndPoint), whose string is
// "/ip:port"; a named one an address that knows its host name, as a static
// "host:port" list gives, whose string is "host/ip:port".
import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

import net.spy.memcached.DefaultHashAlgorithm;
import net.spy.memcached.KetamaNodeLocator;
import net.spy.memcached.MemcachedNode;

public class GenKetama {
  static MemcachedNode node(InetSocketAddress addr) {
    return (MemcachedNode) Proxy.newProxyInstance(MemcachedNode.class.getClassLoader(),
        new Class<?>[] {MemcachedNode.class}, (proxy, m, args) -> {
          switch (m.getName()) {
            case "getSocketAddress": return addr;
            case "hashCode": return System.identityHashCode(proxy);
            case "equals": return proxy == args[0];
            case "toString": return String.valueOf(addr);
            default: throw new UnsupportedOperationException(m.getName());
          }
        });
  }

  static InetSocketAddress address(String host, String ip, int port) throws Exception {
    if (host.isEmpty()) {
      return new InetSocketAddress(InetAddress.getByName(ip), port);
    }
    return new InetSocketAddress(InetAddress.getByAddress(host, InetAddress.getByName(ip).getAddress()), port);
  }

  public static void main(String[] argv) throws Exception {
    String title = argv[0];
    List<String> names = new ArrayList<>();
    List<List<MemcachedNode>> sets = new ArrayList<>();
    List<KetamaNodeLocator> locators = new ArrayList<>();
    for (String line : Files.readAllLines(Paths.get("cases.txt"), StandardCharsets.UTF_8)) {
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split("\t");
      List<MemcachedNode> nodes = new ArrayList<>();
      for (String n : f[1].split(" ")) {
        String[] hip = n.split("\\|", -1);
        nodes.add(node(address(hip[0], hip[1], Integer.parseInt(hip[2]))));
      }
      names.add(f[0]);
      sets.add(nodes);
      locators.add(new KetamaNodeLocator(nodes, DefaultHashAlgorithm.KETAMA_HASH));
    }
    StringBuilder out = new StringBuilder();
    out.append("# Key placement of ").append(title).append(",\n");
    out.append("# computed by gen_ketama.sh (GenKetama.java) on ").append(java.time.LocalDate.now()).append(".\n");
    out.append("# A case line names the nodes (index 0, 1, ...) by the locator's node key\n");
    out.append("# (InetSocketAddress without its leading \"/\"); each key row gives, per case,\n");
    out.append("# the index of the node KetamaNodeLocator.getPrimary picks.\n");
    for (int i = 0; i < names.size(); i++) {
      out.append("case\t").append(names.get(i)).append('\t');
      for (int j = 0; j < sets.get(i).size(); j++) {
        String s = String.valueOf(sets.get(i).get(j).getSocketAddress());
        out.append(j > 0 ? " " : "").append(s.startsWith("/") ? s.substring(1) : s);
      }
      out.append('\n');
    }
    for (String key : Files.readAllLines(Paths.get("keys.txt"), StandardCharsets.UTF_8)) {
      out.append(key);
      for (int i = 0; i < locators.size(); i++) {
        out.append('\t').append(sets.get(i).indexOf(locators.get(i).getPrimary(key)));
      }
      out.append('\n');
    }
    System.out.print(out);
  }
}

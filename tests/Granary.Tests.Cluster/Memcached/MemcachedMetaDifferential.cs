using System.Globalization;
using System.Text;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>
/// Seeded random streams of the meta commands (mg, ms, md, ma, mn) over a few keys: the flags the endpoint
/// implements in random order (so a t before or after a T, a c before or after a k), every store mode, CAS
/// compares with uniques seen earlier (<c>C{cas:N}</c>, filled per server by <see cref="MemcachedDifferential.Resolve"/>), numbers to do arithmetic on, and
/// malformed lines (repeated, unknown and badly tokened flags, bad modes, long opaques, missing lengths, keys that are
/// not base64). A quarter of the commands name their key in base64 (flag b), and <c>me</c> reads items without touching them.
/// A c flag always comes with a k flag, so that the unique in the reply can be renamed per key, and an s flag with v.
/// </summary>
internal static class MemcachedMetaDifferential
{
    private static readonly string[] Values = ["v", "hello", "0", "7", "42", "18446744073709551615", "12abc", "é日本", string.Empty, " 5"];
    private static readonly string[] Ttls = ["0", "100", "1000", "2592000"];

    // R compares the item's expiry time with now + the token: never with a token a TTL above could tie with, because
    // then the answer (W or not) depends on whether a second of the server's clock ticked between the store and the read.
    private static readonly string[] RecacheTokens = ["50", "500", "5000", "2591000"];

    /// <summary>
    /// The stream. Arithmetic works on counter keys of its own: memcached changes a number in place, or writes a new
    /// item when something still holds the old one (a reply of the same read not yet sent, and sometimes one just
    /// sent), and a new item has no padding and none of the stale and recache marks; which one happens depends on
    /// memcached's buffers and timing, not on the commands, so no mark or append ever meets a number that arithmetic
    /// changed. For the same reason ma has no T here: memcached sets the TTL of the old item when arithmetic made a new
    /// one (it was seen even one command at a time), so ma's T is tested on its own. When <paramref name="pipelined"/>,
    /// the stream also leaves out ms's append and prepend modes and the N, R and I flags.
    /// </summary>
    public static List<string> Generate(int seed, int count, string prefix, bool pipelined)
    {
        var modes = pipelined ? "SER" : "SEAPR";
        var marking = pipelined ? int.MaxValue : 6;
        var random = new Random(seed);
        var keys = Enumerable.Range(0, 5).Select(i => prefix + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var counters = Enumerable.Range(0, 3).Select(i => prefix + "n" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var absolute = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600).ToString(CultureInfo.InvariantCulture);
        string Key() => keys[random.Next(keys.Length)];
        string Counter() => counters[random.Next(counters.Length)];
        string Ttl() => random.Next(6) == 0 ? absolute : Ttls[random.Next(Ttls.Length)];
        string Opaque() => "O" + random.Next(1000).ToString(CultureInfo.InvariantCulture);
        string Cas() => "C" + (random.Next(5) == 0 ? "999999999" : "{cas:" + random.Next(2).ToString(CultureInfo.InvariantCulture) + "}");

        // The key as sent, and whether it went in base64 (the b flag then joins the flags).
        (string Sent, int Weight) Name(string key) => random.Next(4) == 0 ? (Convert.ToBase64String(Encoding.UTF8.GetBytes(key)), 1) : (key, int.MaxValue);

        string Arithmetic()
        {
            var (counter, b) = Name(Counter());
            var mode = random.Next(3) == 0 ? "ID+-"[random.Next(4)] : '\0';
            return $"ma {counter}{Flags((b, () => "b"), (2, () => "v"), (3, () => "c"), (3, () => "t"), (3, () => "k"), (4, Opaque), (5, () => "q"), (3, () => "N" + Ttl()), (3, () => "J" + random.Next(100).ToString(CultureInfo.InvariantCulture)), (3, () => "D" + (random.Next(4) == 0 ? "18446744073709551615" : random.Next(50).ToString(CultureInfo.InvariantCulture))), (mode == '\0' ? int.MaxValue : 1, () => "M" + mode), (4, Cas))}\r\n";
        }

        string Flags(params (int Weight, Func<string> Make)[] candidates)
        {
            var chosen = candidates.Where(c => random.Next(c.Weight) == 0).Select(c => c.Make()).ToList();
            if (chosen.Contains("c") && !chosen.Contains("k"))
            {
                chosen.Add("k");
            }

            if (chosen.Contains("s") && !chosen.Contains("v"))
            {
                // The size of a number decr made shorter depends on memcached's buffers (see Normalize): it is
                // compared with the value it goes with.
                chosen.Add("v");
            }

            return string.Concat(chosen.OrderBy(_ => random.Next()).Select(f => " " + f));
        }

        var commands = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var value = Values[random.Next(Values.Length)];
            var bytes = Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture);
            var (key, b) = Name(Key());
            commands.Add(random.Next(32) switch
            {
                < 8 => $"mg {key}{Flags((b, () => "b"), (2, () => "v"), (3, () => "c"), (3, () => "f"), (3, () => "k"), (3, () => "s"), (3, () => "t"), (5, () => "q"), (4, Opaque), (4, () => "T" + Ttl()), (marking, () => "N" + Ttl()), (marking, () => "R" + RecacheTokens[random.Next(RecacheTokens.Length)]), (5, () => "h"), (6, () => "l"), (6, () => "u"))}\r\n",
                < 15 => $"ms {key} {bytes}{Flags((b, () => "b"), (3, () => "c"), (3, () => "k"), (3, () => "F" + random.Next(70000).ToString(CultureInfo.InvariantCulture)), (3, () => "T" + Ttl()), (2, () => "M" + modes[random.Next(modes.Length)]), (4, Cas), (5, () => "q"), (4, Opaque), (marking, () => "I"))}\r\n{value}\r\n",
                < 18 => $"md {key}{Flags((b, () => "b"), (3, () => "q"), (3, () => "k"), (3, Opaque), (3, Cas), (marking / 2, () => "I"), (4, () => "T" + Ttl()))}\r\n",
                < 24 => Arithmetic(),
                24 => "mn\r\n",
                25 => random.Next(5) == 0 ? $"set {Counter()} 0 0 5\r\n12abc\r\n" : $"set {Counter()} 0 0 2\r\n{random.Next(10, 99)}\r\n",
                26 => $"mg {Counter()} v c k t\r\n",
                < 29 => b == 1 ? $"me {key} b\r\n" : $"me {key}\r\n",
                _ => Malformed(random, Key()),
            });
        }

        return commands;
    }

    private static string Malformed(Random random, string key) => random.Next(26) switch
    {
        20 => "mg Zm9 b v\r\n", // not base64: three characters
        21 => "ms Zm9 2 b\r\nhi\r\n",
        22 => "md Zm9v= b q\r\n",
        23 => $"me {key} b\r\n",
        24 => "me\r\n",
        25 => $"mg {Convert.ToBase64String(Encoding.UTF8.GetBytes(key)).Insert(2, "*.")} b k v\r\n", // characters outside the alphabet are skipped
        0 => $"mg {key} v v\r\n",
        1 => $"mg {key} z\r\n",
        2 => $"mg {key} Tabc\r\n",
        3 => $"mg {key}:missing O{new string('o', 40)}\r\n", // on a key that exists memcached fetches it before it checks the opaque
        4 => $"ms {key} 1 z\r\nx\r\n",
        5 => $"ms {key} 1 MX\r\nx\r\n",
        6 => $"ms {key} 1 Fabc\r\nx\r\n",
        7 => $"ms {key}\r\n",
        8 => $"ms {key} abc\r\nhi\r\n",
        9 => $"ms {key} 1 c c\r\nx\r\n",
        10 => $"md {key} z\r\n",
        11 => $"md {key} q q\r\n",
        12 => $"ma {key} MX\r\n",
        13 => $"ma {key} Dabc\r\n",
        14 => $"ma {key} Jx N0\r\n",
        15 => "mg\r\n",
        16 => $"mg {key} MSS\r\n",
        17 => $"ms {key} 3\r\nabcdef\r\n",
        18 => $"mg {new string('k', 251)} v\r\n",
        _ => $"ma {key} z\r\n",
    };

    /// <summary>
    /// The reply with each nonzero unique renamed by order of first appearance per key (through <paramref name="names"/>,
    /// recording new ones in <paramref name="seen"/>), each positive TTL written <c>t+</c> (the two servers' clocks tick
    /// their seconds at different moments, so a TTL read just after a store may differ by one) and each last-access age
    /// <c>l</c> (memcached refreshes it on a fetch only after its LRU maintainer thread reset the item's active bit).
    /// </summary>
    public static string Normalize(string reply, Dictionary<(string, ulong), int> names, Dictionary<string, List<ulong>> seen)
    {
        var lines = reply.Split("\r\n");
        for (var i = 0; i < lines.Length; i++)
        {
            var parts = lines[i].Split(' ');
            if (parts is ["ME", var item, var exp, _, var unique, ..])
            {
                // me: exp is memcached's clock minus the expiry time (minus the TTL), la the seconds since the last access.
                parts[2] = exp == "exp=-1" ? exp : "exp~";
                parts[3] = "la";
                parts[4] = "cas=" + MemcachedDifferential.Rename(item, ulong.Parse(unique[4..], CultureInfo.InvariantCulture), names, seen);
                lines[i] = string.Join(' ', parts);
                continue;
            }

            if (parts[0] is not ("HD" or "VA" or "EX" or "NS" or "NF" or "EN"))
            {
                continue;
            }

            var key = parts.FirstOrDefault(p => p.StartsWith('k'))?[1..];
            for (var p = 1; p < parts.Length; p++)
            {
                if (parts[p].StartsWith('t') && long.TryParse(parts[p][1..], CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
                {
                    parts[p] = "t+";
                }
                else if (parts[p].StartsWith('l') && long.TryParse(parts[p][1..], CultureInfo.InvariantCulture, out _))
                {
                    parts[p] = "l";
                }
                else if (key is not null && parts[p].StartsWith('c') && ulong.TryParse(parts[p][1..], CultureInfo.InvariantCulture, out var cas) && cas != 0)
                {
                    parts[p] = "c" + MemcachedDifferential.Rename(key, cas, names, seen);
                }
            }

            if (parts[0] == "VA" && i + 1 < lines.Length && lines[i + 1].TrimEnd(' ') is { Length: > 0 } trimmed && trimmed.Length < lines[i + 1].Length && trimmed.All(char.IsAsciiDigit))
            {
                // A number that decr made shorter: memcached pads it with spaces when it rewrites the item in
                // place and writes it unpadded when a reply of the same read still holds the old item; which
                // one depends on its buffers, not on the commands. Granary always pads.
                lines[i + 1] = trimmed;
                parts[1] = trimmed.Length.ToString(CultureInfo.InvariantCulture);
                for (var p = 2; p < parts.Length; p++)
                {
                    parts[p] = parts[p].StartsWith('s') ? parts[1] == parts[p][1..] ? parts[p] : "s" + parts[1] : parts[p];
                }
            }

            lines[i] = string.Join(' ', parts);
        }

        return string.Join("\r\n", lines);
    }
}

using System.Collections.Frozen;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Errors;
using Granary.Text;

namespace Granary.Server.Resp;

/// <summary>The connection commands (answered by the endpoint, not by a shard) and MULTI/EXEC.</summary>
internal sealed partial class RespConnection
{
    /// <summary>The Redis version whose command semantics the cache follows, reported by HELLO and INFO.</summary>
    internal const string RedisVersion = "7.0.0";

    /// <summary>Commands the endpoint answers itself.</summary>
    internal static readonly FrozenSet<string> LocalCommands = new[]
    {
        "PING", "ECHO", "SELECT", "CLIENT", "INFO", "COMMAND", "CONFIG", "QUIT", "RESET", "AUTH", "HELLO",
        "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "CLUSTER", "READONLY", "READWRITE",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Every command the connection looks at before the cache does (its own, the scripting ones, the refused
    /// ones); any other goes straight to the cache's pipeline when no transaction is open. After
    /// <see cref="LocalCommands"/>, which it is built from.
    /// </summary>
    private static readonly FrozenSet<string> EndpointCommands =
        LocalCommands.Concat(RespText.Unsupported.Keys).Concat(["EVAL", "EVALSHA", "SCRIPT"]).ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private List<string[]>? _transaction;
    private bool _transactionDirty;
    private int? _transactionShard;

    private async Task RunLocalAsync(string[] args, CancellationToken token)
    {
        var name = args[0].ToUpperInvariant();
        switch (name)
        {
            case "PING" when args.Length <= 2:
                Reply(args.Length == 1 ? CacheReply.Status("PONG") : CacheReply.Bulk(args[1]));
                break;
            case "ECHO" when args.Length == 2:
                Reply(CacheReply.Bulk(args[1]));
                break;
            case "SELECT" when args.Length == 2:
                await SelectAsync(args[1]);
                break;
            case "CLIENT" when args.Length >= 2:
                Client(args);
                break;
            case "INFO":
                await InfoAsync(args);
                break;
            case "COMMAND":
                Command(args);
                break;
            case "CONFIG" when args.Length >= 2:
                Config(args);
                break;
            case "QUIT":
                Reply(CacheReply.Ok);
                _closeAfterFlush = true;
                break;
            case "RESET" when args.Length == 1:
                ResetState();
                Reply(CacheReply.Status("RESET"));
                break;
            case "AUTH" when args.Length >= 2:
                Auth(args);
                break;
            case "HELLO":
                Hello(args);
                break;
            case "MULTI" when args.Length == 1:
                if (_transaction is not null)
                {
                    Reply(CacheReply.Error(RespText.NestedMulti));
                    break;
                }

                _transaction = [];
                _transactionDirty = false;
                _transactionShard = _watch?.Shard;
                Reply(CacheReply.Ok);
                break;
            case "EXEC" when args.Length == 1:
                await ExecAsync(token);
                break;
            case "DISCARD" when args.Length == 1:
                Reply(_transaction is null ? CacheReply.Error(RespText.DiscardWithoutMulti) : CacheReply.Ok);
                _watch = _transaction is null ? _watch : null;
                _transaction = null;
                break;
            case "WATCH":
                await WatchAsync(args, token);
                break;
            case "UNWATCH" when args.Length == 1:
                Unwatch();
                Reply(CacheReply.Ok);
                break;
            case "CLUSTER" or "READONLY" or "READWRITE":
                await ClusterAsync(args);
                break;
            default:
                Reply(CacheReply.Error(RedisText.Arity(name)));
                break;
        }
    }

    private void ResetState()
    {
        _transaction = null;
        _transactionDirty = false;
        Unwatch();
        Database = 0;
        Protocol = 2;
        Name = null;
        Authenticated = _endpoint.Password is null;
    }

    private async Task SelectAsync(string index)
    {
        if (!int.TryParse(index, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var db))
        {
            Reply(CacheReply.Error(RespText.InvalidDbIndex));
            return;
        }

        if (db < 0 || db >= _endpoint.Options.Caches.Length)
        {
            Reply(CacheReply.Error(RespText.DbIndexOutOfRange));
            return;
        }

        try
        {
            await _endpoint.CacheAsync(db);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Reply(CacheClient.Failed(ex));
            return;
        }

        Database = db;
        Reply(CacheReply.Ok);
    }

    private void Auth(string[] args)
    {
        if (args.Length > 3)
        {
            Reply(CacheReply.Error(RespText.Syntax));
            return;
        }

        if (args.Length == 2 && _endpoint.Password is null)
        {
            Reply(CacheReply.Error(RespText.NoPasswordConfigured));
            return;
        }

        var ok = PasswordMatches(args.Length == 3 ? args[1] : "default", args[^1]);
        Authenticated |= ok;
        Reply(ok ? CacheReply.Ok : CacheReply.Error(RespText.WrongPass));
    }

    /// <summary>The default user with the configured password (any password when none is configured, as Redis's nopass user).</summary>
    private bool PasswordMatches(string user, string password)
    {
        if (!string.Equals(user, "default", StringComparison.Ordinal))
        {
            return false;
        }

        return _endpoint.Password is not { } expected
            || CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(expected));
    }

    private void Hello(string[] args)
    {
        var protocol = Protocol;
        if (args.Length >= 2)
        {
            if (!long.TryParse(args[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var version) || version > int.MaxValue || version < int.MinValue)
            {
                Reply(CacheReply.Error(RespText.ProtocolVersionNotInteger));
                return;
            }

            if (version is not (2 or 3))
            {
                Reply(CacheReply.Error(RespText.NoProto));
                return;
            }

            protocol = (int)version;
        }

        string? user = null, password = null, name = null;
        for (var i = 2; i < args.Length; i++)
        {
            if (string.Equals(args[i], "AUTH", StringComparison.OrdinalIgnoreCase) && i + 2 < args.Length)
            {
                user = args[i + 1];
                password = args[i + 2];
                i += 2;
            }
            else if (string.Equals(args[i], "SETNAME", StringComparison.OrdinalIgnoreCase) && i + 1 < args.Length)
            {
                name = args[i + 1];
                i++;
            }
            else
            {
                Reply(CacheReply.Error($"ERR Syntax error in HELLO option '{args[i]}'"));
                return;
            }
        }

        if (password is not null)
        {
            if (!PasswordMatches(user!, password))
            {
                Reply(CacheReply.Error(RespText.WrongPass));
                return;
            }

            Authenticated = true;
        }

        if (!Authenticated)
        {
            Reply(CacheReply.Error(RespText.HelloNoAuth));
            return;
        }

        if (name is not null && !ValidClientName(name))
        {
            Reply(CacheReply.Error(RespText.ClientNameInvalid));
            return;
        }

        Name = name is null ? Name : name.Length == 0 ? null : name;
        Protocol = protocol;
        Reply(
            CacheReply.Array(
            [
                CacheReply.Bulk("server"), CacheReply.Bulk("redis"),
                CacheReply.Bulk("version"), CacheReply.Bulk(RedisVersion),
                CacheReply.Bulk("proto"), CacheReply.Int(Protocol),
                CacheReply.Bulk("id"), CacheReply.Int(Id),
                CacheReply.Bulk("mode"), CacheReply.Bulk("standalone"),
                CacheReply.Bulk("role"), CacheReply.Bulk("master"),
                CacheReply.Bulk("modules"), CacheReply.EmptyArray,
            ]),
            Resp3Shape.Map);
    }

    private static bool ValidClientName(string name) => name.All(c => c is >= '!' and <= '~');

    private void Client(string[] args)
    {
        var sub = args[1].ToUpperInvariant();
        switch (sub)
        {
            case "ID" when args.Length == 2:
                Reply(CacheReply.Int(Id));
                break;
            case "GETNAME" when args.Length == 2:
                Reply(CacheReply.Bulk(Name));
                break;
            case "SETNAME" when args.Length == 3:
                if (!ValidClientName(args[2]))
                {
                    Reply(CacheReply.Error(RespText.ClientNameInvalid));
                    break;
                }

                Name = args[2].Length == 0 ? null : args[2];
                Reply(CacheReply.Ok);
                break;
            case "SETINFO" when args.Length == 4:
                var known = string.Equals(args[2], "LIB-NAME", StringComparison.OrdinalIgnoreCase) || string.Equals(args[2], "LIB-VER", StringComparison.OrdinalIgnoreCase);
                Reply(known ? CacheReply.Ok : CacheReply.Error($"ERR Unrecognized option '{args[2]}'"));
                break;
            case "INFO" when args.Length == 2:
                Reply(CacheReply.Bulk(Describe() + "\n"));
                break;
            case "LIST" when args.Length == 2:
                Reply(CacheReply.Bulk(string.Concat(_endpoint.Connections.OrderBy(c => c.Id).Select(c => c.Describe() + "\n"))));
                break;
            case "ID" or "GETNAME" or "SETNAME" or "SETINFO" or "INFO" or "LIST":
                Reply(CacheReply.Error($"ERR wrong number of arguments for 'client|{sub.ToLowerInvariant()}' command"));
                break;
            default:
                Reply(CacheReply.Error(RespText.UnknownSubcommand(args[1], "CLIENT")));
                break;
        }
    }

    private string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"id={Id} addr={Remote} name={Name} age={(Environment.TickCount64 - _createdTicks) / 1000} db={Database} multi={(_transaction?.Count ?? -1)} resp={Protocol}");

    private void Config(string[] args)
    {
        var sub = args[1].ToUpperInvariant();
        switch (sub)
        {
            case "GET" when args.Length >= 3:
                var values = ConfigValues();
                var items = new List<CacheReply>();
                foreach (var (key, value) in values)
                {
                    if (args.Skip(2).Any(p => GlobPattern.IsMatch(p.ToLowerInvariant(), key)))
                    {
                        items.Add(CacheReply.Bulk(key));
                        items.Add(CacheReply.Bulk(value));
                    }
                }

                Reply(CacheReply.Array([.. items]), Resp3Shape.Map);
                break;
            case "SET" when args.Length >= 4:
                Reply(CacheReply.Error(RespText.ConfigSetNotSupported(args[2])));
                break;
            case "RESETSTAT" or "REWRITE":
                Reply(CacheReply.Error(RespText.ConfigSetNotSupported(sub)));
                break;
            case "GET" or "SET":
                Reply(CacheReply.Error($"ERR wrong number of arguments for 'config|{sub.ToLowerInvariant()}' command"));
                break;
            default:
                Reply(CacheReply.Error(RespText.UnknownSubcommand(args[1], "CONFIG")));
                break;
        }
    }

    /// <summary>The configuration keys clients probe, with this endpoint's values.</summary>
    private List<(string Key, string Value)> ConfigValues()
    {
        var o = _endpoint.Options;
        return
        [
            ("maxclients", o.MaxConnections.ToString(CultureInfo.InvariantCulture)),
            ("timeout", ((long)o.IdleTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture)),
            ("proto-max-bulk-len", o.MaxBulkLength.ToString(CultureInfo.InvariantCulture)),
            ("client-query-buffer-limit", o.MaxRequestBytes.ToString(CultureInfo.InvariantCulture)),
            ("databases", o.Caches.Length.ToString(CultureInfo.InvariantCulture)),
            ("save", string.Empty),
            ("appendonly", "no"),
            ("replica-read-only", "yes"),
            ("slave-read-only", "yes"),
            ("cluster-enabled", _endpoint.Cluster.Enabled ? "yes" : "no"),
            ("notify-keyspace-events", string.Empty),
        ];
    }

    private async Task InfoAsync(string[] args)
    {
        var sections = args.Skip(1).Select(a => a.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
        bool Wants(string section) => sections.Count == 0 || sections.Contains(section) || sections.Contains("all") || sections.Contains("everything") || sections.Contains("default");
        var text = new StringBuilder();
        if (Wants("server"))
        {
            text.Append("# Server\r\n")
                .Append("redis_version:").Append(RedisVersion).Append("\r\n")
                .Append("granary_version:").Append(typeof(RespConnection).Assembly.GetName().Version).Append("\r\n")
                .Append(_endpoint.Cluster.Enabled ? "redis_mode:cluster\r\n" : "redis_mode:standalone\r\n")
                .Append(CultureInfo.InvariantCulture, $"process_id:{Environment.ProcessId}\r\n")
                .Append(CultureInfo.InvariantCulture, $"tcp_port:{_endpoint.LocalEndPoint?.Port}\r\n")
                .Append(CultureInfo.InvariantCulture, $"uptime_in_seconds:{Environment.TickCount64 / 1000}\r\n")
                .Append("\r\n");
        }

        if (Wants("clients"))
        {
            var (received, rejected) = _endpoint.ConnectionCounters;
            text.Append("# Clients\r\n")
                .Append(CultureInfo.InvariantCulture, $"connected_clients:{_endpoint.ConnectionCount}\r\n")
                .Append(CultureInfo.InvariantCulture, $"maxclients:{_endpoint.Options.MaxConnections}\r\n")
                .Append(CultureInfo.InvariantCulture, $"total_connections_received:{received}\r\n")
                .Append(CultureInfo.InvariantCulture, $"rejected_connections:{rejected}\r\n")
                .Append("\r\n");
        }

        if (Wants("replication"))
        {
            text.Append("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
        }

        if (Wants("cluster"))
        {
            text.Append("# Cluster\r\ncluster_enabled:").Append(_endpoint.Cluster.Enabled ? '1' : '0').Append("\r\n\r\n");
        }

        if (Wants("keyspace"))
        {
            text.Append("# Keyspace\r\n");
            foreach (var (index, cache) in _endpoint.OpenCaches())
            {
                try
                {
                    var stats = await cache.GetStatisticsAsync();
                    if (stats.Keys > 0)
                    {
                        text.Append(CultureInfo.InvariantCulture, $"db{index}:keys={stats.Keys},expires={stats.KeysWithTtl},avg_ttl=0\r\n");
                    }
                }
                catch (Exception ex) when (ex is TimeoutException or OrleansException or GranaryException)
                {
                    text.Append(CultureInfo.InvariantCulture, $"# db{index} unavailable: {ex.GetType().Name}\r\n");
                }
            }
        }

        var body = text.ToString().TrimEnd('\r', '\n') + "\r\n";
        if (Protocol >= 3)
        {
            // RESP3 sends INFO as a verbatim string of format "txt".
            var bytes = Encoding.UTF8.GetBytes("txt:" + body);
            RespWriter.Header(_output, (byte)'=', bytes.Length);
            RespWriter.Raw(_output, bytes);
            RespWriter.Raw(_output, "\r\n"u8);
            return;
        }

        Reply(CacheReply.Bulk(body));
    }

    private void Command(string[] args)
    {
        var sub = args.Length > 1 ? args[1].ToUpperInvariant() : null;
        switch (sub)
        {
            case null:
                Reply(CacheReply.Array([.. RespCommandDocs.All().Select(RespCommandDocs.Info)]));
                break;
            case "COUNT" when args.Length == 2:
                Reply(CacheReply.Int(RespCommandDocs.All().Count()));
                break;
            case "LIST" when args.Length == 2:
                Reply(CacheReply.BulkArray(RespCommandDocs.All().Select(c => c.Name.ToLowerInvariant())));
                break;
            case "INFO":
                Reply(CacheReply.Array([.. (args.Length == 2 ? RespCommandDocs.All() : args.Skip(2).Select(RespCommandDocs.Find)).Select(c => c is null ? CacheReply.NilArray : RespCommandDocs.Info(c))]));
                break;
            case "DOCS":
                var docs = new List<CacheReply>();
                foreach (var name in args.Length == 2 ? RespCommandDocs.All().Select(c => c.Name) : args.Skip(2))
                {
                    if (RespCommandDocs.Docs(name) is { } doc)
                    {
                        docs.Add(CacheReply.Bulk(name.ToLowerInvariant()));
                        docs.Add(doc);
                    }
                }

                // A map of maps in RESP3 (the inner maps are written as flat arrays in RESP2 as well).
                WriteDocs(docs);
                break;
            default:
                Reply(CacheReply.Error(RespText.UnknownSubcommand(args[1], "COMMAND")));
                break;
        }
    }

    private void WriteDocs(List<CacheReply> docs)
    {
        if (Protocol < 3)
        {
            Reply(CacheReply.Array([.. docs]));
            return;
        }

        RespWriter.Header(_output, (byte)'%', docs.Count / 2);
        for (var i = 0; i < docs.Count; i += 2)
        {
            Reply(docs[i]);
            Reply(docs[i + 1], Resp3Shape.Map);
        }
    }

    /// <summary>Queues a command between MULTI and EXEC: checked now (name, arity, text, one shard), run at EXEC.</summary>
    private async Task QueueAsync(string[] args)
    {
        var name = args[0];
        string? error = null;
        if (LocalCommands.Contains(name) && !string.Equals(name, "PING", StringComparison.OrdinalIgnoreCase))
        {
            error = RespText.NotInTransaction(name);
        }
        else if (RespText.Unsupported.TryGetValue(name, out var family))
        {
            error = RespText.NotSupported(name, family);
        }
        else if (CacheCommandTable.Resolve(args) is null)
        {
            error = CacheCommandTable.Find(name) is null ? RedisText.UnknownCommand(args) : RedisText.Arity(name);
        }
        else if (args.Skip(1).Select((a, i) => StorableText.Problem(a) is { } p ? RedisText.NotStorable(i + 1, p) : null).FirstOrDefault(p => p is not null) is { } notStorable)
        {
            error = notStorable;
        }
        else
        {
            CacheClient cache;
            try
            {
                cache = await _endpoint.CacheAsync(Database);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _transactionDirty = true;
                Reply(CacheClient.Failed(ex));
                return;
            }

            var shard = cache.ShardOfKeys(args, out var spans);
            if (spans || (shard is not null && _transactionShard is not null && shard != _transactionShard))
            {
                error = RespText.CrossSlot;
            }
            else
            {
                _transactionShard ??= shard;
            }
        }

        if (error is not null)
        {
            _transactionDirty = true;
            Reply(CacheReply.Error(error));
            return;
        }

        _transaction!.Add(args);
        Reply(CacheReply.Status("QUEUED"));
    }

    private async Task ExecAsync(CancellationToken token)
    {
        if (_transaction is not { } commands)
        {
            Reply(CacheReply.Error(RespText.ExecWithoutMulti));
            return;
        }

        var dirty = _transactionDirty;
        var hasKeys = _transactionShard is not null;
        var watch = Unwatch();
        _transaction = null;
        _transactionDirty = false;
        _transactionShard = null;
        if (dirty)
        {
            Reply(CacheReply.Error(RespText.ExecAbort));
            return;
        }

        if (commands.Count == 0 && watch is null)
        {
            Reply(CacheReply.EmptyArray);
            return;
        }

        IReadOnlyList<CacheReply>? replies;
        try
        {
            var cache = await _endpoint.CacheAsync(Database);
            replies = watch is not null ? await ExecuteWatchedAsync(cache, watch, commands, token) : hasKeys ? await cache.ExecuteAtomicAsync([.. commands], token) : await cache.ExecuteInOrderAsync(commands, token);
        }
        catch (InvalidRequestException)
        {
            // The ring changed since the commands were queued and their keys now live on different shards.
            Reply(CacheReply.Error(RespText.CrossSlot));
            return;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
        {
            Reply(CacheClient.Failed(ex));
            return;
        }

        if (replies is null)
        {
            Reply(CacheReply.NilArray);
            return;
        }

        RespWriter.Header(_output, (byte)'*', replies.Count);
        for (var i = 0; i < replies.Count; i++)
        {
            Reply(replies[i], RespWriter.ShapeOf(commands[i]));
        }
    }
}

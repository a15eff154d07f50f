namespace Granary.Server.Resp;

/// <summary>
/// The RESP endpoint's own replies, in Redis's words where Redis has them, and the one place that says
/// what the endpoint does not support (Lua scripting, pub/sub, keyspace notifications, cluster mode).
/// </summary>
internal static class RespText
{
    /// <summary>The page that lists what is not supported.</summary>
    public const string SeeDocs = "see docs/resp.md";

    public const string NoAuth = "NOAUTH Authentication required.";
    public const string WrongPass = "WRONGPASS invalid username-password pair or user is disabled.";
    public const string NoPasswordConfigured = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
    public const string HelloNoAuth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
    public const string NoProto = "NOPROTO unsupported protocol version";
    public const string ProtocolVersionNotInteger = "ERR Protocol version is not an integer or out of range";
    public const string InvalidDbIndex = "ERR invalid DB index";
    public const string DbIndexOutOfRange = "ERR DB index is out of range";
    public const string ClientNameInvalid = "ERR Client names cannot contain spaces, newlines or special characters.";
    public const string NestedMulti = "ERR MULTI calls can not be nested";
    public const string ExecWithoutMulti = "ERR EXEC without MULTI";
    public const string DiscardWithoutMulti = "ERR DISCARD without MULTI";
    public const string ExecAbort = "EXECABORT Transaction discarded because of previous errors.";
    public const string CrossSlot = Granary.Caching.RedisText.CrossSlot;
    public const string MaxClients = "ERR max number of clients reached";
    public const string ClusterDisabled = "ERR This instance has cluster support disabled";
    public const string Syntax = "ERR syntax error";
    public const string NoScript = "NOSCRIPT No matching script. Please use EVAL.";

    /// <summary>Commands that are refused, by family, with the reason; <see cref="NotSupported"/> words the error.</summary>
    public static readonly IReadOnlyDictionary<string, string> Unsupported = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["EVAL"] = "Lua scripting",
        ["EVALSHA"] = "Lua scripting",
        ["EVAL_RO"] = "Lua scripting",
        ["EVALSHA_RO"] = "Lua scripting",
        ["SCRIPT"] = "Lua scripting",
        ["FUNCTION"] = "Lua scripting",
        ["FCALL"] = "Lua scripting",
        ["FCALL_RO"] = "Lua scripting",
        ["SUBSCRIBE"] = "pub/sub",
        ["UNSUBSCRIBE"] = "pub/sub",
        ["PSUBSCRIBE"] = "pub/sub",
        ["PUNSUBSCRIBE"] = "pub/sub",
        ["SSUBSCRIBE"] = "pub/sub",
        ["SUNSUBSCRIBE"] = "pub/sub",
        ["PUBLISH"] = "pub/sub",
        ["SPUBLISH"] = "pub/sub",
        ["PUBSUB"] = "pub/sub",
        ["BLPOP"] = "blocking commands",
        ["BRPOP"] = "blocking commands",
        ["WAIT"] = "replication",
        ["REPLICAOF"] = "replication",
        ["SLAVEOF"] = "replication",
        ["SYNC"] = "replication",
        ["PSYNC"] = "replication",
        ["MONITOR"] = "MONITOR",
    };

    /// <summary>The refusal of a command of a family the endpoint does not support.</summary>
    public static string NotSupported(string command, string family) =>
        $"ERR {command.ToUpperInvariant()} is not supported: Granary's cache has no {family} ({SeeDocs})";

    /// <summary>The refusal of keyspace notifications (CONFIG SET notify-keyspace-events) and of other CONFIG changes.</summary>
    public static string ConfigSetNotSupported(string parameter) =>
        string.Equals(parameter, "notify-keyspace-events", StringComparison.OrdinalIgnoreCase)
            ? $"ERR keyspace notifications are not supported by Granary's cache ({SeeDocs})"
            : $"ERR CONFIG SET is not supported: configure the silo's Granary:Resp and Granary:Caching sections ({SeeDocs})";

    /// <summary>A connection command used between MULTI and EXEC.</summary>
    public static string NotInTransaction(string command) =>
        $"ERR {command.ToUpperInvariant()} inside MULTI is not supported by Granary ({SeeDocs})";

    /// <summary>A recognised script called with fewer keys or arguments than it reads.</summary>
    public static string ScriptShape(int arguments) =>
        $"ERR this script runs natively with 1 key and {arguments} argument{(arguments == 1 ? string.Empty : "s")} ({SeeDocs})";

    /// <summary>Redis's reply to an unknown subcommand.</summary>
    /// <summary>A CLUSTER subcommand that changes or inspects slots by hand: Granary's ring places slots.</summary>
    public static string ClusterSubcommandNotSupported(string subcommand) =>
        $"ERR CLUSTER {subcommand} is not supported: Granary places hash slots on its cache shards itself (granary cache reshard; {SeeDocs})";

    public static string UnknownSubcommand(string subcommand, string command) =>
        $"ERR unknown subcommand '{subcommand}'. Try {command.ToUpperInvariant()} HELP.";
}

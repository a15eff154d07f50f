using System.Text.Json;
using System.Text.Json.Serialization;

namespace Granary.Grocery;

/// <summary>Source-generated JSON for every message of the sample (web defaults: camelCase names).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Catalogue))]
[JsonSerializable(typeof(OrderRequest))]
[JsonSerializable(typeof(OrderAccepted))]
[JsonSerializable(typeof(OrderError))]
[JsonSerializable(typeof(OrderStatus))]
[JsonSerializable(typeof(FulfilOrderTask))]
[JsonSerializable(typeof(Fulfilment))]
public sealed partial class GroceryJsonContext : JsonSerializerContext;

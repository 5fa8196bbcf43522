using System.Reflection;
using Microsoft.ML;

namespace ReverseSD.MLNet;

/// <summary>
/// The <see cref="MLContext"/> used by a stage reached from an ML.NET catalog. ML.NET keeps a catalog's environment internal
/// (and in ML.NET 5 it is the context's inner environment, not the MLContext), so when the MLContext itself is not reachable a
/// fresh one is used: it only hosts the OnnxTransformer that scores the compiled graph; the stages take their seeds from their options.
/// </summary>
internal static class CatalogContext
{
    public static MLContext Of(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        for (var type = catalog.GetType(); type != null; type = type.BaseType)
        {
            var property = type.GetProperty("Environment", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly);
            if (property?.GetValue(catalog) is MLContext ml) return ml;
        }
        return new MLContext();
    }
}

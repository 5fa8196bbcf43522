using Microsoft.ML;

namespace ReverseSD.MLNet;

/// <summary>
/// The one way a catalog extension gets the <see cref="MLContext"/> its stage builds with. ML.NET keeps a catalog's
/// environment internal (and in ML.NET 5 it is the context's inner environment, not the MLContext), so the caller's
/// MLContext cannot be reached from a catalog: every stage built from a catalog gets a fresh context here. It only hosts
/// the OnnxTransformer that scores the stage's compiled graph; the stages take their seeds from their options.
/// </summary>
internal static class CatalogContext
{
    /// <summary>The context for a stage built from <paramref name="catalog"/>.</summary>
    public static MLContext Of(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new MLContext();
    }
}

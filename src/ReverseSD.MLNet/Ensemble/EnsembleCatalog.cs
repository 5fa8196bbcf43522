using Microsoft.ML;

namespace ReverseSD.MLNet.Ensemble;

/// <summary>Catalog entry of the embedding ensemble.</summary>
public static class EnsembleCatalog
{
    /// <summary>Combines several models' embedding columns (paper §4.9); see <see cref="EmbeddingEnsembleEstimator"/>.</summary>
    public static EmbeddingEnsembleEstimator CombineEmbeddings(
        this TransformsCatalog catalog,
        string[] inputColumnNames,
        string outputColumnName = ColumnNames.EnsembleEmbedding,
        EnsembleCombination combination = EnsembleCombination.Mean,
        float[]? weights = null)
        => catalog.CombineEmbeddings(new EmbeddingEnsembleOptions
        {
            InputColumnNames = inputColumnNames,
            OutputColumnName = outputColumnName,
            Combination = combination,
            Weights = weights,
        });

    /// <summary>Combines several models' embedding columns with explicit options.</summary>
    public static EmbeddingEnsembleEstimator CombineEmbeddings(this TransformsCatalog catalog, EmbeddingEnsembleOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new EmbeddingEnsembleEstimator(CatalogContext.Of(catalog), options);
    }
}

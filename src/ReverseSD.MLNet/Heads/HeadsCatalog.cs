using Microsoft.ML;

namespace ReverseSD.MLNet.Heads;

/// <summary>Catalog entry points of the prompt-embedding heads trainer.</summary>
public static class HeadsCatalog
{
    /// <summary>
    /// Trains the embedding and vocabulary heads (paper §3) on "ImageFeatures" → "PromptEmbedding" (+ "VocabularyLabels").
    /// ML.NET keeps a catalog's context internal, so the trainer runs its ONNX stage in a context seeded with <paramref name="seed"/>.
    /// </summary>
    public static PromptEmbeddingHeadsTrainer PromptEmbeddingHeads(this RegressionCatalog.RegressionTrainers catalog,
        HeadConfiguration configuration = PromptEmbeddingHeadsTrainer.Defaults.Configuration,
        float vocabularyWeight = PromptEmbeddingHeadsTrainer.Defaults.VocabularyWeight,
        int numberOfEpochs = PromptEmbeddingHeadsTrainer.Defaults.NumberOfEpochs,
        double learningRate = PromptEmbeddingHeadsTrainer.Defaults.LearningRate,
        int batchSize = PromptEmbeddingHeadsTrainer.Defaults.BatchSize,
        int seed = PromptEmbeddingHeadsTrainer.Defaults.Seed,
        string featureColumnName = ColumnNames.ImageFeatures, string labelColumnName = ColumnNames.PromptEmbedding,
        string vocabularyLabelsColumnName = ColumnNames.VocabularyLabels, string outputColumnName = ColumnNames.PredictedEmbedding)
        => PromptEmbeddingHeads(catalog, new PromptEmbeddingHeadsTrainer.Options
        {
            Configuration = configuration,
            VocabularyWeight = vocabularyWeight,
            NumberOfEpochs = numberOfEpochs,
            LearningRate = learningRate,
            BatchSize = batchSize,
            Seed = seed,
            FeatureColumnName = featureColumnName,
            LabelColumnName = labelColumnName,
            VocabularyLabelsColumnName = vocabularyLabelsColumnName,
            OutputColumnName = outputColumnName,
        });

    /// <summary>Trains the embedding and vocabulary heads with all <paramref name="options"/>.</summary>
    public static PromptEmbeddingHeadsTrainer PromptEmbeddingHeads(this RegressionCatalog.RegressionTrainers catalog,
        PromptEmbeddingHeadsTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new PromptEmbeddingHeadsTrainer(CatalogContext.Of(catalog), options);
    }
}
